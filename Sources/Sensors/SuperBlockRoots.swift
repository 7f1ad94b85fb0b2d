import BPFKit
import CVigilABI
import Foundation

/// Where each mounted file system's root is, in the agent's view of the node: the table the
/// kernel's path walk uses to turn a file into its global path (bpf/include/vigil_resolve.h,
/// map `sb_roots`). A file is named by where its own file system is mounted, whatever bind
/// mount, chroot or /proc/PID/root the caller reached it through.
public enum SuperBlockRoots {
    /// A super block's device as the kernel encodes `s_dev` (MAJOR << 20 | MINOR).
    public static func kernelDevice(major: UInt32, minor: UInt32) -> UInt32 { (major << 20) | (minor & 0xfffff) }

    /// A `stat` st_dev (glibc's encoding) as the kernel's `s_dev`.
    public static func kernelDevice(statDevice dev: UInt64) -> UInt32 {
        let major = UInt32(truncatingIfNeeded: ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff)))
        let minor = UInt32(truncatingIfNeeded: (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff)))
        return kernelDevice(major: major, minor: minor)
    }

    /// From /proc/self/mountinfo text: for each file system mounted with its own root ("/" in
    /// the root column), the shortest mount point, "" for the agent's root file system. A file
    /// system mounted only as a bind of one of its directories is left out: the walk then
    /// follows its mounts, as d_path does.
    public static func parse(_ mountinfo: String) -> [UInt32: String] {
        var out: [UInt32: String] = [:]
        for line in mountinfo.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: false)
            guard f.count >= 5 else { continue }
            let dev = f[2].split(separator: ":")
            guard dev.count == 2, let major = UInt32(dev[0]), let minor = UInt32(dev[1]), f[3] == "/" else { continue }
            var point = unescape(String(f[4]))
            if point == "/" { point = "" }
            guard point.utf8.count < Int(VIGIL_SB_ROOT_BYTES) else { continue }
            let key = kernelDevice(major: major, minor: minor)
            if let seen = out[key], seen.utf8.count <= point.utf8.count { continue }
            out[key] = point
        }
        return out
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        let u = Array(s.utf8)
        var bytes: [UInt8] = []
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"),
                u.count - i > 3, let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(v)
                i += 4
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The agent's current view.
    public static func current() -> [UInt32: String] {
        parse((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
    }

    /// Writes `roots` into the kernel's map, removing devices no longer mounted.
    public static func write(_ roots: [UInt32: String], into map: BPFMap) throws(BPFError) {
        for key in try map.keys() where key.count == 4 {
            let dev = key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            if roots[dev] == nil { _ = try map.delete(key: key) }
        }
        for (dev, path) in roots {
            var v = vigil_sb_root()
            let bytes = Array(path.utf8)
            v.len = UInt32(bytes.count)
            withUnsafeMutableBytes(of: &v.path) { $0.copyBytes(from: bytes) }
            try map.update(dev, v)
        }
    }
}
