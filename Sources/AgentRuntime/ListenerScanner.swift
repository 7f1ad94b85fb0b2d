import AgentCore
import BPFKit
import Foundation
import Sensors

/// The TCP listeners that exist when the agent starts, each with a process holding it, read
/// from /proc: the handshake accept tier learns later listeners at listen(), in the kernel,
/// but would otherwise name no process for connections to servers started before the agent.
///
/// A listener may be held by several processes. The kernel's rule for new listeners is "who
/// called listen()"; the nearest /proc shows is the earliest-started holder (a pre-forking
/// server's parent, not its workers), except that pid 1 is taken only when nobody else holds
/// it (systemd holds the sockets of socket-activated services, which accept them).
public enum ListenerScanner {
    /// One row of /proc/<pid>/net/tcp{,6} in the LISTEN state.
    struct Row: Equatable {
        var inode: UInt64
        var address: [UInt8]
        var port: UInt16
    }

    public static func scan(processes: [ProcessEntry], root: String = "/proc") -> [ListeningSocket] {
        // each network namespace's listeners, read once through one of its processes
        var rows: [UInt32: [UInt64: Row]] = [:]
        for p in processes {
            let netns = p.namespaces.net
            guard netns != 0, rows[netns] == nil else { continue }
            var found: [UInt64: Row] = [:]
            for (file, v6) in [("tcp", false), ("tcp6", true)] {
                for r in listening(readTextFile("\(root)/\(p.pid)/net/\(file)") ?? "", v6: v6) { found[r.inode] = r }
            }
            rows[netns] = found
        }
        var holders: [UInt64: [ProcessEntry]] = [:]
        var netnsOf: [UInt64: UInt32] = [:]
        for p in processes {
            let netns = p.namespaces.net
            guard let here = rows[netns], !here.isEmpty else { continue }
            let dir = "\(root)/\(p.pid)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(fd)"),
                    let inode = socketInode(link), here[inode] != nil
                else { continue }
                holders[inode, default: []].append(p)
                netnsOf[inode] = netns
            }
        }
        var result: [ListeningSocket] = []
        for (inode, procs) in holders {
            guard let netns = netnsOf[inode], let row = rows[netns]?[inode], let owner = owner(among: procs) else { continue }
            result.append(ListeningSocket(netns: netns, address: row.address, port: row.port, owner: owner.id, ownerParent: owner.parent, uid: owner.uid))
        }
        return result
    }

    /// The holder taken as owner: the earliest started, pid 1 only when alone.
    static func owner(among holders: [ProcessEntry]) -> ProcessEntry? {
        let others = holders.filter { $0.pid != 1 }
        return (others.isEmpty ? holders : others).min { ($0.id.ktime, $0.pid) < ($1.id.ktime, $1.pid) }
    }

    /// "socket:[12345]" -> 12345.
    static func socketInode(_ link: String) -> UInt64? {
        guard link.hasPrefix("socket:["), link.hasSuffix("]") else { return nil }
        return UInt64(link.dropFirst(8).dropLast())
    }

    /// The LISTEN rows (state 0A) of a /proc/net/tcp or tcp6 table. Addresses are printed as
    /// 32-bit words in the kernel's byte order (little-endian here), ports in hex, host order.
    static func listening(_ table: String, v6: Bool) -> [Row] {
        var rows: [Row] = []
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count > 9, f[3] == "0A" else { continue }
            let local = f[1].split(separator: ":")
            guard local.count == 2, let port = UInt16(local[1], radix: 16), let inode = UInt64(f[9]),
                let words = words(local[0]), words.count == (v6 ? 4 : 1)
            else { continue }
            var address = [UInt8](repeating: 0, count: 16)
            if v6 {
                for (i, w) in words.enumerated() { withUnsafeBytes(of: w) { for b in 0..<4 { address[i * 4 + b] = $0[b] } } }
            } else if words[0] != 0 {
                address[10] = 0xff
                address[11] = 0xff
                withUnsafeBytes(of: words[0]) { for b in 0..<4 { address[12 + b] = $0[b] } }
            }
            rows.append(Row(inode: inode, address: address, port: port))
        }
        return rows
    }

    /// Hex digits as 32-bit words (8 digits each), the values /proc printed.
    private static func words(_ hex: Substring) -> [UInt32]? {
        guard hex.count % 8 == 0 else { return nil }
        var out: [UInt32] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 8)
            guard let w = UInt32(hex[i..<j], radix: 16) else { return nil }
            out.append(w)
            i = j
        }
        return out
    }
}
