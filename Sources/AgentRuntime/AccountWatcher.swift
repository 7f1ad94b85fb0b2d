import AgentCore
import Foundation

/// Re-reads /etc/passwd and /etc/group when they change and returns the root powers granted
/// since the last read (`AccountSnapshot.grants`). The drain thread asks once a second: two
/// stat calls while nothing changes. The first read is the baseline: accounts that already
/// held these powers when the agent started are not reported.
final class AccountWatcher {
    let passwdPath: String
    let groupPath: String
    private var stamp: [Int] = []
    private var snapshot: AccountSnapshot?

    init(etc: String = "/etc") {
        passwdPath = etc + "/passwd"
        groupPath = etc + "/group"
    }

    /// The grants since the last call, and when the files last changed (wall clock, ns).
    func check() -> (grants: [AccountGrant], changedNs: UInt64) {
        let now = stamps()
        guard now != stamp else { return ([], 0) }
        stamp = now
        // tools replace the files by rename: a read between two renames sees one file new,
        // and the other change is found at the next check
        guard let passwd = try? String(contentsOfFile: passwdPath, encoding: .utf8),
            let group = try? String(contentsOfFile: groupPath, encoding: .utf8)
        else { return ([], 0) }
        let current = AccountSnapshot(passwd: passwd, group: group)
        defer { snapshot = current }
        guard let before = snapshot else { return ([], 0) }
        let changed = stride(from: 0, to: now.count, by: 4).map { UInt64(max(0, now[$0 + 2])) * 1_000_000_000 + UInt64(max(0, now[$0 + 3])) }.max() ?? 0
        return (current.grants(since: before), changed)
    }

    /// Inode, size and change time of both files: a rename, a rewrite in place or an append.
    private func stamps() -> [Int] {
        var out: [Int] = []
        for path in [passwdPath, groupPath] {
            var st = stat()
            guard stat(path, &st) == 0 else {
                out += [-1, -1, -1, -1]
                continue
            }
            out += [Int(st.st_ino), Int(st.st_size), st.st_ctim.tv_sec, st.st_ctim.tv_nsec]
        }
        return out
    }
}
