import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One agent per node: an exclusive lock (flock) on a file that holds the running agent's
/// pid. A second agent is refused and told which pid runs; `--take-over` (an upgrade) asks
/// the running one to stop (SIGTERM) and waits for its lock, so enforcement hands over
/// through the agent's own shutdown rather than two agents fighting over one node.
public final class AgentLock {
    let fd: Int32
    public let path: String

    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }  // the kernel drops the lock with the descriptor

    public static func acquire(path: String, takeOver: Bool, waitSeconds: Double = 30) throws(Refusal) -> AgentLock {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Refusal(description: "lock file \(path): \(String(cString: strerror(errno))) (--lock-file)") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = holderPID(fd)
            guard takeOver, let holder else {
                close(fd)
                let who = holder.map { "pid \($0)" } ?? "pid unknown"
                throw Refusal(
                    description:
                        "another agent runs on this node (\(who), lock \(path)): one agent per node; stop it, or start this one with --take-over to replace it")
            }
            kill(holder, SIGTERM)
            let deadline = Date().addingTimeInterval(waitSeconds)
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                guard Date() < deadline else {
                    close(fd)
                    throw Refusal(description: "--take-over: the running agent (pid \(holder)) did not stop in \(Int(waitSeconds)) s; nothing was changed")
                }
                usleep(50_000)
            }
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return AgentLock(fd: fd, path: path)
    }

    /// The pid the lock holder wrote.
    static func holderPID(_ fd: Int32) -> pid_t? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buf, buf.count - 1, 0)
        guard n > 0 else { return nil }
        return pid_t(String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Lets the lock go now (it also goes with the process). The file stays: a successor
    /// waiting in --take-over holds it open, and unlinking it would let a third agent lock a
    /// new file by the same name.
    public func release() {
        flock(fd, LOCK_UN)
    }
}
