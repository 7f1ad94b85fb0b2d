import CMalloc
import Foundation
import Sensors

/// Files the kernel matches by identity (device, inode), each held (an O_PATH reference, open_tree) for as long
/// as its identity is in a kernel map. A held inode is not freed, so its number cannot pass to
/// another file: ext4 gives a freed inode's number to the next file made nearby, so after the
/// account tools had replaced /etc/shadow a few times, a new /etc/group carried an old
/// /etc/shadow's number and `cat /etc/group` was reported as a read of /etc/shadow (and an
/// allow list's binary, replaced by an upgrade, could have lent its number to another
/// program). An identity whose file has lost its last name (replaced, and not hardlinked
/// anywhere) is taken out of the map by the owner, then released here.
final class HeldFiles<Key: Hashable> {
    /// A file opened by path: its identity as the kernel keys it, and the descriptor.
    struct Opened {
        var device: UInt32
        var inode: UInt64
        var mode: mode_t
        var fd: Int32
    }

    private var fds: [Key: Int32] = [:]

    init() {}

    /// A reference to the file at `path` (symlinks followed, as an open of it would), taken
    /// with open_tree (vigil_hold_path): not an open the agent's own policies judge.
    /// When no reference can be taken (no descriptor left, a kernel before 5.2) the file is
    /// stat'ed instead and its fd is -1: matched as before, kept for the hook's life.
    static func open(_ path: String) -> Opened? {
        let fd = vigil_hold_path(path)
        guard fd >= 0 else { return identify(path) }
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            return nil
        }
        return Opened(device: SuperBlockRoots.kernelDevice(statDevice: UInt64(st.st_dev)), inode: UInt64(st.st_ino), mode: st.st_mode, fd: fd)
    }

    /// The identity of the file at `path` now, without a reference (fd -1).
    static func identify(_ path: String) -> Opened? {
        var st = Glibc.stat()
        guard statFollowing(path, &st) == 0 else { return nil }
        return Opened(device: SuperBlockRoots.kernelDevice(statDevice: UInt64(st.st_dev)), inode: UInt64(st.st_ino), mode: st.st_mode, fd: -1)
    }

    var count: Int { fds.count }

    func contains(_ key: Key) -> Bool { fds[key] != nil }

    /// Keeps `fd` for `key`; closes it when `key` is held already.
    func hold(_ key: Key, fd: Int32) {
        if fds[key] == nil { fds[key] = fd } else if fd >= 0 { close(fd) }
    }

    /// The held files that no name reaches any more (their identity can leave the map).
    func nameless() -> [Key] {
        fds.compactMap { key, fd in
            guard fd >= 0 else { return nil }
            var st = Glibc.stat()
            return fstat(fd, &st) == 0 && st.st_nlink == 0 ? key : nil
        }
    }

    func release(_ key: Key) {
        if let fd = fds.removeValue(forKey: key), fd >= 0 { close(fd) }
    }

    deinit { for fd in fds.values where fd >= 0 { close(fd) } }
}

/// stat(2) (symlinks followed), under a name the `stat` struct does not shadow.
private func statFollowing(_ path: String, _ st: inout stat) -> Int32 { stat(path, &st) }
