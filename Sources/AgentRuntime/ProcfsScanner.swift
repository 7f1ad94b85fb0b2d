import AgentCore
import BPFKit
import Foundation

/// Reads the processes running when the agent starts from /proc, so they are known as
/// parents (and exported as procFS exec events, as Tetragon does).
public enum ProcfsScanner {
    /// Every process, parents before children (ordered by start time). Identities use the
    /// process start time (ns since boot) as ktime.
    public static func scan(clock: KernelClock, root: String = "/proc") -> [ProcessEntry] {
        let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        var found: [(entry: ProcessEntry, ppid: UInt32, start: UInt64)] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            guard let pid = UInt32(name), let stat = readTextFile("\(root)/\(name)/stat") else { continue }
            // comm may hold spaces and parentheses: fields start after the last ')'.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let comm = String(stat[stat.index(after: stat.firstIndex(of: "(")!)..<close])
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 19, let ppid = UInt32(fields[1]), let startTicks = UInt64(fields[19]) else { continue }
            let startNs = startTicks * (1_000_000_000 / ticks)
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(name)/exe")) ?? ""
            var e = ProcessEntry(id: ExecIdentity(ktime: startNs, pid: pid), parent: nil, binary: exe.isEmpty ? "[\(comm)]" : exe)
            e.tid = pid
            e.cwd = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(name)/cwd")) ?? ""
            if let cmdline = FileManager.default.contents(atPath: "\(root)/\(name)/cmdline") {
                e.arguments = cmdline.withUnsafeBytes { ProcessEntry.arguments(fromArgv: $0) }
            }
            if let status = readTextFile("\(root)/\(name)/status") { apply(status: status, to: &e) }
            if let login = readTextFile("\(root)/\(name)/loginuid"), let auid = UInt32(login.trimmingCharacters(in: .whitespacesAndNewlines)) { e.auid = auid }
            e.namespaces = namespaces(of: "\(root)/\(name)")
            if let cg = readTextFile("\(root)/\(name)/cgroup"), let line = cg.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) {
                e.cgroupPath = String(line.dropFirst(3))
                e.containerID = ProcessEntry.containerID(fromCgroupPath: e.cgroupPath)
            }
            e.startTimeNs = clock.wall(boottime: startNs)
            var flags: ProcessFlags = [.procFS]
            if e.cwd == "/" { flags.insert(.rootCWD) }
            if e.cwd.isEmpty { flags.insert(.noCWD) }
            e.flags = flags
            found.append((e, ppid, startNs))
        }
        found.sort { ($0.start, $0.entry.pid) < ($1.start, $1.entry.pid) }
        var ids: [UInt32: ExecIdentity] = [:]
        for f in found { ids[f.entry.pid] = f.entry.id }
        return found.map { f in
            var e = f.entry
            e.parent = ids[f.ppid]
            return e
        }
    }

    /// The namespace inodes of a /proc/<pid> directory (the host's, for /proc/1).
    public static func namespaces(of dir: String) -> Namespaces {
        let files = ["uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time", "time_for_children", "cgroup", "user"]
        return Namespaces(
            inodes: files.map { file in
                guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/ns/\(file)"),
                    let open = link.firstIndex(of: "["), let close = link.firstIndex(of: "]")
                else { return 0 }
                return UInt32(link[link.index(after: open)..<close]) ?? 0
            })
    }

    private static func apply(status: String, to e: inout ProcessEntry) {
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == "\t" || $0 == " " })
            guard parts.count >= 2 else { continue }
            switch parts[0] {
            case "Uid" where parts.count >= 3:
                e.uid = UInt32(parts[1]) ?? 0
                e.euid = UInt32(parts[2]) ?? 0
            case "Gid" where parts.count >= 3:
                e.gid = UInt32(parts[1]) ?? 0
                e.egid = UInt32(parts[2]) ?? 0
            case "CapPrm": e.caps.permitted = UInt64(parts[1], radix: 16) ?? 0
            case "CapEff": e.caps.effective = UInt64(parts[1], radix: 16) ?? 0
            case "CapInh": e.caps.inheritable = UInt64(parts[1], radix: 16) ?? 0
            default: break
            }
        }
    }
}
