import ArgumentParser

extension PolicyCommand {
    /// Placeholder replaced below.
    struct Explain: ParsableCommand {
        func run() throws {}
    }
}
