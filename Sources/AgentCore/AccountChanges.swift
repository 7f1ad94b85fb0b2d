/// Accounts given root's powers by the system's own tools: `useradd -o -u 0`, `usermod -aG
/// sudo`, `gpasswd -a USER docker`. The file-integrity policy reports hand edits of the
/// account files but leaves the account tools out (adding users with them is routine); what
/// the tools wrote is judged here, in user space, from the files themselves: a user other than
/// root with UID 0 or primary group 0, or a user newly in a group that grants root's powers.
public struct AccountSnapshot: Sendable {
    /// user -> (uid, primary gid)
    public var users: [String: (uid: UInt32, gid: UInt32)] = [:]
    /// group -> (gid, listed members)
    public var groups: [String: (gid: UInt32, members: Set<String>)] = [:]

    /// Groups whose members hold root's powers or can take them (sudo and wheel by policy,
    /// disk and shadow by the files they open, docker and lxd by the containers they start).
    public static let privilegedGroups: Set<String> = ["root", "sudo", "wheel", "admin", "adm", "shadow", "disk", "docker", "lxd", "libvirt"]

    public init() {}

    /// From /etc/passwd's and /etc/group's text (malformed lines skipped).
    public init(passwd: String, group: String) {
        for line in passwd.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, !f[0].hasPrefix("#"), let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { continue }
            users[String(f[0])] = (uid, gid)
        }
        for line in group.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, !f[0].hasPrefix("#"), let gid = UInt32(f[2]) else { continue }
            groups[String(f[0])] = (gid, Set(f[3].split(separator: ",").map(String.init)))
        }
    }

    /// What `self` grants that `before` did not, one finding per user and grant.
    public func grants(since before: AccountSnapshot) -> [AccountGrant] {
        var out: [AccountGrant] = []
        for (user, ids) in users.sorted(by: { $0.key < $1.key }) where user != "root" {
            let was = before.users[user]
            if ids.uid == 0 && was?.uid != 0 { out.append(AccountGrant(user: user, kind: .rootUID)) }
            for (group, g) in groups.sorted(by: { $0.key < $1.key }) where Self.privilegedGroups.contains(group) {
                let isMember = g.members.contains(user) || ids.gid == g.gid
                let wasMember = before.groups[group].map { $0.members.contains(user) || was?.gid == $0.gid } ?? false
                if isMember && !wasMember { out.append(AccountGrant(user: user, kind: .privilegedGroup(group))) }
            }
        }
        return out
    }
}

/// A user given root's powers.
public struct AccountGrant: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// UID 0 under another name (`useradd -o -u 0`, `usermod -o -u 0`)
        case rootUID
        /// a new member of a privileged group, by the member list or the primary group
        case privilegedGroup(String)
    }
    public var user: String
    public var kind: Kind

    public init(user: String, kind: Kind) {
        self.user = user
        self.kind = kind
    }

    public var detection: String {
        switch kind {
        case .rootUID: "account-with-root-uid"
        case .privilegedGroup: "account-added-to-privileged-group"
        }
    }

    public var message: String {
        switch kind {
        case .rootUID: "account \(user) has UID 0: root's powers under another name"
        case .privilegedGroup(let g): "account \(user) added to the privileged group \(g)"
        }
    }

    public var tags: [String] {
        switch kind {
        case .rootUID: ["persistence", "privilege-escalation", "T1136.001", "T1078.003"]
        case .privilegedGroup: ["persistence", "privilege-escalation", "T1098"]
        }
    }
}
