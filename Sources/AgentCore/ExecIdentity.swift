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
        var node = node
        return node.withUTF8 { n in withExecID(node: n) { String(decoding: $0, as: UTF8.self) } }
    }

    /// The exec_id's UTF-8 bytes, handed to `body` from a stack buffer: every exec event names
    /// two of them, and building them through Data, interpolation and Foundation's base64 took
    /// a tenth of the agent's time per spawn.
    public func withExecID<R>(node: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let plainCount = node.count + 32  // ":" + up to 20 digits + ":" + up to 10 digits
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: plainCount + (plainCount + 2) / 3 * 4) { buf in
            var n = 0
            for b in node {
                buf[n] = b
                n += 1
            }
            buf[n] = 0x3a
            n += 1
            n += Self.writeDecimal(ktime, into: UnsafeMutableBufferPointer(rebasing: buf[n...]))
            buf[n] = 0x3a
            n += 1
            n += Self.writeDecimal(UInt64(pid), into: UnsafeMutableBufferPointer(rebasing: buf[n...]))
            let out = UnsafeMutableBufferPointer(rebasing: buf[plainCount...])
            let m = Self.base64(UnsafeBufferPointer(rebasing: buf[..<n]), into: out)
            return body(UnsafeBufferPointer(rebasing: out[..<m]))
        }
    }

    /// Writes `v` in decimal at the start of `out` (room for 20 digits); returns the count.
    static func writeDecimal(_ v: UInt64, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var digits = 1
        var t = v
        while t >= 10 {
            t /= 10
            digits += 1
        }
        var v = v
        for i in stride(from: digits - 1, through: 0, by: -1) {
            out[i] = 0x30 + UInt8(v % 10)
            v /= 10
        }
        return digits
    }

    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding (RFC 4648 section 4); returns the bytes written.
    static func base64(_ input: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        Self.base64Alphabet.withUnsafeBufferPointer { a in
            var o = 0
            var i = 0
            while i + 3 <= input.count {
                let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                out[o] = a[Int(v >> 18)]
                out[o + 1] = a[Int(v >> 12 & 63)]
                out[o + 2] = a[Int(v >> 6 & 63)]
                out[o + 3] = a[Int(v & 63)]
                i += 3
                o += 4
            }
            let rest = input.count - i
            if rest > 0 {
                let v = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
                out[o] = a[Int(v >> 18)]
                out[o + 1] = a[Int(v >> 12 & 63)]
                out[o + 2] = rest == 2 ? a[Int(v >> 6 & 63)] : 0x3d
                out[o + 3] = 0x3d
                o += 4
            }
            return o
        }
    }

    public var description: String { "\(pid)@\(ktime)" }
}
