#if canImport(Glibc)
    import Glibc
#endif

/// A thread that owns what its body captured: the body is `sending`, so the caller hands over
/// everything reachable from it and keeps nothing (the compiler checks), and no lock is needed
/// on the far side. The agent's policy service runs on one.
final class OwnedThread {
    private var thread = pthread_t()

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    init(_ body: sending @escaping () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let started = pthread_create(
            &thread, nil,
            { context in
                Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
        precondition(started == 0, "pthread_create failed: \(started)")
    }

    /// Waits for the body to return.
    func join() { pthread_join(thread, nil) }
}
