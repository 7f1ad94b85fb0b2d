import Foundation

/// The identity of one process image: when it exec'd (or forked, for a clone) and its pid.
/// Stable for the life of the image, unique on a node.
public struct ExecIdentity: Hashable, Sendable, CustomStringConvertible {
    /// Kernel monotonic time of the exec (or fork) in ns; for processes found in /proc at
    /// start, their start time.
    public let ktime: UInt64
    public let pid: UInt32

    public init(ktime: UInt64, pid: UInt32) {
        self.ktime = ktime
        self.pid = pid
    }

    /// Tetragon's exec_id: base64 of `NODE:KTIME:PID`, so pipelines built on it keep working.
    public func execID(node: String) -> String {
        Data("\(node):\(ktime):\(pid)".utf8).base64EncodedString()
    }

    public var description: String { "\(pid)@\(ktime)" }
}
