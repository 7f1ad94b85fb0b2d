import BPFKit
import CVigilABI
import Foundation
import Sensors

/// The agent's matchBinaries `followChildren` slots: bits of `vigil_process.follow`, 64 in all.
/// A hook whose selector follows a list of binaries takes a slot when it loads (hooks with the
/// same list share it). The list's binaries go, by identity (a hardlink or a symlinked name is
/// the binary), into the process sensor's `follow_binaries` map: an exec of one sets the bit
/// in its process's table entry and every later fork copies it (bpf/progs/process.bpf.c), so
/// a double fork or a reparented orphan stays followed. Processes already running when the
/// slot is taken are marked here from the process table: the listed binaries' processes and
/// the descendants whose chain of parents is still in the table. The last hook to let go of a
/// slot clears it from every process and from the map.
///
/// Marking a running process rewrites its table entry (read, set the bit, write): an exec of
/// that very process between the read and the write would be overwritten, a window of
/// microseconds at a policy load; execs later rewrite the entry anyway.
public final class FollowSlots {
    struct Key: Hashable {
        var device: UInt32
        var inode: UInt64
    }
    private struct Slot {
        var binaries: [String]
        var users: Int
        var identities: Set<Key> = []
    }
    private var slots: [Int: Slot] = [:]
    /// The map's value per identity: the slots listing it.
    private var masks: [Key: UInt64] = [:]
    /// Each identity in the map, its file held so that its inode number cannot pass to
    /// another program while it is there (HeldFiles); a replaced binary's old identity goes
    /// when no name reaches it any more.
    private let held = HeldFiles<Key>()
    private let followBinaries: BPFMap
    private let processes: BPFMap
    /// BPF_EXIST: an entry the process's exit removed meanwhile stays removed.
    private static let onlyIfPresent: UInt64 = 2

    public init(followBinaries: BPFMap, processes: BPFMap) {
        self.followBinaries = followBinaries
        self.processes = processes
    }

    /// Slots in use (tests, status).
    public var inUse: Int { slots.count }

    /// A slot following `binaries` (shared with hooks that follow the same list), its
    /// binaries in the map and the running processes marked.
    public func acquire(_ binaries: [String]) throws(BPFError) -> Int {
        let list = Array(Set(binaries)).sorted()
        if let (slot, _) = slots.first(where: { $0.value.binaries == list }) {
            slots[slot]!.users += 1
            return slot
        }
        guard let slot = (0..<Int(VIGIL_FOLLOW_SLOTS)).first(where: { slots[$0] == nil }) else {
            throw BPFError(
                operation: "followChildren", subject: "every one of the \(VIGIL_FOLLOW_SLOTS) slots is taken by loaded policies (one per distinct binary list)",
                errno: 28)
        }
        slots[slot] = Slot(binaries: list, users: 1)
        do {
            try refresh(slot)
            try markRunning(slot)
        } catch {
            try? clear(slot)
            slots[slot] = nil
            throw error
        }
        return slot
    }

    /// One hook lets go of `slot`; the last one clears it.
    public func release(_ slot: Int) {
        guard var s = slots[slot] else { return }
        s.users -= 1
        if s.users > 0 {
            slots[slot] = s
            return
        }
        try? clear(slot)
        slots[slot] = nil
    }

    /// Resolves every slot's binaries again: one installed or replaced since (a new inode) is
    /// followed from its next exec. Returns how many identities were added.
    @discardableResult
    public func refreshAll() throws(BPFError) -> Int {
        var added = 0
        for slot in slots.keys.sorted() { added += try refresh(slot) }
        return added
    }

    @discardableResult
    private func refresh(_ slot: Int) throws(BPFError) -> Int {
        guard var s = slots[slot] else { return 0 }
        for key in held.nameless() where s.identities.contains(key) {
            s.identities.remove(key)
            try drop(key, fromSlot: slot)
        }
        var added = 0
        for path in s.binaries {
            // a binary already followed is only stat'ed (this runs every 2 seconds)
            guard let now = HeldFiles<Key>.identify(path), !s.identities.contains(Key(device: now.device, inode: now.inode)),
                let f = HeldFiles<Key>.open(path)
            else { continue }
            let key = Key(device: f.device, inode: f.inode)
            guard f.mode & S_IFMT == S_IFREG, s.identities.insert(key).inserted else {
                if f.fd >= 0 { close(f.fd) }
                continue
            }
            held.hold(key, fd: f.fd)
            masks[key, default: 0] |= 1 << UInt64(slot)
            try followBinaries.update(vigil_follow_key(dev: key.device, pad: 0, ino: key.inode), masks[key]!)
            added += 1
        }
        slots[slot] = s
        return added
    }

    /// `slot` stops listing `key`: out of the map when no slot lists it, then let go of.
    private func drop(_ key: Key, fromSlot slot: Int) throws(BPFError) {
        let rest = (masks[key] ?? 0) & ~(UInt64(1) << UInt64(slot))
        let k = vigil_follow_key(dev: key.device, pad: 0, ino: key.inode)
        if rest == 0 {
            masks[key] = nil
            try followBinaries.delete(k)
            held.release(key)
        } else {
            masks[key] = rest
            try followBinaries.update(k, rest)
        }
    }

    /// Marks the running processes of the slot's binaries and their descendants.
    private func markRunning(_ slot: Int) throws(BPFError) {
        guard let s = slots[slot] else { return }
        var table: [UInt32: vigil_process] = [:]
        for k in try processes.keys() where k.count == 4 {
            let pid = k.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            if let p = try processes.lookup(pid, as: vigil_process.self) { table[pid] = p }
        }
        var marked = Set(table.filter { s.identities.contains(Key(device: $0.value.binary_dev, inode: $0.value.binary_ino)) }.keys)
        // descendants: a parent's mark passes down, one generation per pass
        var changed = true
        while changed {
            changed = false
            for (pid, p) in table where !marked.contains(pid) && marked.contains(p.parent.pid) && p.parent.pid != pid {
                marked.insert(pid)
                changed = true
            }
        }
        let bit = UInt64(1) << UInt64(slot)
        for pid in marked {
            guard var p = try processes.lookup(pid, as: vigil_process.self), p.follow & bit == 0 else { continue }
            p.follow |= bit
            try processes.update(pid, p, flags: Self.onlyIfPresent)
        }
    }

    /// Takes the slot out of the map and off every process.
    private func clear(_ slot: Int) throws(BPFError) {
        let bit = UInt64(1) << UInt64(slot)
        for key in slots[slot]?.identities ?? [] { try drop(key, fromSlot: slot) }
        for k in try processes.keys() where k.count == 4 {
            let pid = k.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            guard var p = try processes.lookup(pid, as: vigil_process.self), p.follow & bit != 0 else { continue }
            p.follow &= ~bit
            try processes.update(pid, p, flags: Self.onlyIfPresent)
        }
    }
}
