#if canImport(Glibc)
    import Glibc
#endif

/// Where JSON lines go. `write` receives whole lines only (each ends in a newline).
public protocol EventSink: AnyObject {
    func write(_ lines: UnsafeRawBufferPointer) throws
    func flush() throws
    func close() throws
    /// Opens the destination again by name (SIGHUP, after logrotate): whether it changed.
    func reopen() throws -> Bool
}

extension EventSink {
    public func reopen() throws -> Bool { false }
}

/// An export error: what failed, on which file, and the errno.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    public let errno: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}

/// Writes everything to one file descriptor, retrying partial writes and EINTR.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var done = 0
    while done < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw ExportError(operation: "write", path: path, errno: errno)
        }
        done += n
    }
}

/// Standard output.
public final class StdoutSink: EventSink {
    public init() {}
    public func write(_ lines: UnsafeRawBufferPointer) throws { try writeAll(1, lines, path: "stdout") }
    public func flush() throws {}
    public func close() throws {}
}
