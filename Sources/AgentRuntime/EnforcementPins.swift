import BPFKit
import Foundation
import Logging
import PolicyEngine
import Sensors

/// Enforcement that survives the agent: the links of every enforcing policy's hooks (kill,
/// signal, deny), and of the process sensor whose table those hooks match binaries on, are
/// pinned in bpffs. A crash, `kill -9` or an upgrade leaves them acting; the records they
/// write meanwhile wait in the pinned ring buffer. The next agent attaches its own programs
/// first, then removes the previous generation's pins (no gap) and reports what that ring
/// buffer holds as lost. `vigil cleanup` (or deleting the policy) removes them on purpose.
///
/// Layout: ROOT/agent-PID/{sensor-N, events, policy-NAME/hook-N[.companion]}.
final class EnforcementPins {
    let root: String
    let generation: String
    let logger: Logger
    private var sensorPinned = false
    /// What is pinned per policy: the identity of its first hook program (a reload makes new ones).
    private var pinned: [String: ObjectIdentifier] = [:]

    var pinnedPolicies: [String] { pinned.keys.sorted() }

    init(root: String, logger: Logger) {
        self.root = root
        self.generation = "\(root)/agent-\(getpid())"
        self.logger = logger
    }

    /// Pins what enforces now and unpins what no longer does; cheap when nothing changed.
    /// `sensor`: the process sensor's links and ring (ProcessSensor.pinnables()).
    func sync(sensor: [(file: String, object: BPFPinnable)], policies: PolicyManager) {
        let enforcing = policies.loaded.filter { $0.value.policy.spec.enforces && !$0.value.hooks.isEmpty }
        for name in pinned.keys where enforcing[name].map({ ObjectIdentifier($0.hooks[0]) }) != pinned[name] {
            Self.removeTree("\(generation)/policy-\(name)")
            pinned[name] = nil
        }
        guard !enforcing.isEmpty else { return }
        do {
            try Self.makeDirectory(generation)
            if !sensorPinned {
                for p in sensor { try p.object.pin(at: "\(generation)/\(p.file)") }
                sensorPinned = true
            }
        } catch {
            logger.warning("enforcement will not outlive the agent: the process sensor cannot be pinned", metadata: ["error": "\(error)"])
            return
        }
        for (name, loaded) in enforcing where pinned[name] == nil {
            let dir = "\(generation)/policy-\(name)"
            do {
                try Self.makeDirectory(dir)
                for (i, h) in loaded.hooks.enumerated() { try h.pin(in: dir, prefix: "hook-\(i)") }
                pinned[name] = ObjectIdentifier(loaded.hooks[0])
            } catch {
                Self.removeTree(dir)
                logger.warning(
                    "policy \(name): its enforcement will not outlive the agent (this hook tier's link cannot be pinned)", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Removes the pins of earlier agents (call once this agent's own programs run) and counts
    /// the records left in their ring buffers: events of the time no agent read them.
    func takeOverPrevious() -> (generations: [String], records: UInt64) {
        let others = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("agent-") && "\(root)/\($0)" != generation }
        var records: UInt64 = 0
        for g in others.sorted() {
            let dir = "\(root)/\(g)"
            if let map = try? BPFMap.openPinned("\(dir)/events", keySize: 0, valueSize: 0),
                let reader = try? RingBuffer(
                    maps: [map],
                    handler: { _ in
                        records += 1
                        return true
                    })
            {
                _ = try? reader.consume()
            }
            Self.removeTree(dir)
        }
        return (others.sorted(), records)
    }

    /// `vigil cleanup`: every generation's pins removed; what was removed.
    ///
    /// Ended when this returns: a removed pin drops its link through the kernel's deferred
    /// work (a guest ran the next exec before it, and was killed), so each pinned link is
    /// opened first and closed after its pin is gone, which releases it at once.
    static func removeAll(root: String) -> [String] {
        let gens = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("agent-") }.sorted()
        for g in gens {
            var held: [BPFLink] = []
            openLinks(under: "\(root)/\(g)", into: &held)
            removeTree("\(root)/\(g)")
            held.removeAll()  // the last references: closing them detaches now
        }
        return gens
    }

    /// Every pinned link under `path` (maps and other pins are skipped).
    private static func openLinks(under path: String, into held: inout [BPFLink]) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            let child = "\(path)/\(name)"
            var st = stat()
            if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                openLinks(under: child, into: &held)
            } else if let link = try? BPFLink.openPinned(child) {
                held.append(link)
            }
        }
    }

    static func makeDirectory(_ path: String) throws(BPFError) {
        var dir = ""
        for part in path.split(separator: "/") {
            dir += "/" + part
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw BPFError(operation: "mkdir", subject: dir, errno: errno) }
        }
    }

    /// bpffs has no recursive removal: files (pins) first, then the directories.
    static func removeTree(_ path: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            let child = "\(path)/\(name)"
            var st = stat()
            if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
        }
        rmdir(path)
    }
}

/// `vigil cleanup`: the enforcement agents left pinned, removed.
public enum EnforcementCleanup {
    public static let defaultDirectory = "/sys/fs/bpf/vigil/enforce"

    /// The generations removed (agent-PID directories).
    public static func removeAll(root: String = defaultDirectory) -> [String] { EnforcementPins.removeAll(root: root) }
}
