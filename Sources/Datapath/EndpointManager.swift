import BPFKit
import Foundation
import NetworkPolicy

/// Creates and removes endpoints: a network namespace joined to the node by a veth pair, a
/// routed /32 from the node-local pool, and a cgroup v2 directory. Plumbing is done with
/// iproute2 (`ip`), as an operator would; the record of each endpoint is a JSON file in
/// `stateDirectory`, which the agent watches.
///
/// Addressing (as Cilium's veth mode): the endpoint holds `pool.N/32` with a default route via
/// the link-local gateway 169.254.1.1, which is the address of every host-side veth. The host
/// routes each endpoint's /32 to its veth, so endpoint-to-endpoint traffic is routed through
/// the host side, where the tc programs see it.
public struct EndpointManager {
    public static let gateway = "169.254.1.1"
    public var stateDirectory: String
    /// The pool endpoint addresses come from (a /16 or smaller, IPv4).
    public var pool: IPPrefix

    public init(stateDirectory: String = "/run/vigil/endpoints", pool: IPPrefix = IPPrefix("10.213.0.0/16")!) {
        self.stateDirectory = stateDirectory
        self.pool = pool
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    public struct Request: Sendable {
        public var name: String
        public var namespace: String
        public var labels: [String: String]
        /// Adopt this existing network namespace instead of creating one.
        public var adoptNetns: String?
        public var policyAuditMode: Bool
        public init(name: String, namespace: String = "default", labels: [String: String], adoptNetns: String? = nil, policyAuditMode: Bool = false) {
            self.name = name
            self.namespace = namespace
            self.labels = labels
            self.adoptNetns = adoptNetns
            self.policyAuditMode = policyAuditMode
        }
    }

    public func list() -> [EndpointRecord] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return files.compactMap { f in
            FileManager.default.contents(atPath: "\(stateDirectory)/\(f)").flatMap { try? JSONDecoder().decode(EndpointRecord.self, from: $0) }
        }
    }

    static func validName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 40 && s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
            && s.first != "-" && s.last != "-"
    }

    /// Creates the endpoint; on any failure removes what it made and throws.
    public func create(_ req: Request) throws -> EndpointRecord {
        guard Self.validName(req.name) else {
            throw Failure("endpoint name \"\(req.name)\" is invalid: use lowercase letters, digits and '-', at most 40 characters")
        }
        for (k, v) in req.labels where k.isEmpty || k.contains("=") || v.contains(",") {
            throw Failure("label \"\(k)=\(v)\" is invalid: write key=value, without ',' in the value")
        }
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let lock = try Lock(path: "\(stateDirectory)/.lock")
        defer { lock.release() }
        let existing = list()
        if existing.contains(where: { $0.name == req.name }) { throw Failure("endpoint \"\(req.name)\" exists; delete it first or pick another name") }
        // ids and addresses are free only if no record has them and the machine does not use
        // them either (another state directory's endpoints, a leftover interface or route)
        let id = (1...UInt32(4095)).first { n in !existing.contains { $0.id == n } && if_nametoindex("vxh\(n)") == 0 } ?? 0
        guard id != 0 else { throw Failure("4095 endpoints exist on this node; delete some") }
        let routed = Set(
            ((try? Shell.run("/usr/sbin/ip", ["-4", "route", "show"])) ?? "").split(separator: "\n").compactMap {
                $0.split(separator: " ").first.map(String.init)
            })
        let used = Set(existing.map(\.address)).union(routed)
        let hosts = UInt32(1) << UInt32(32 - pool.length)
        let base = pool.address.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard let addr = (2..<max(hosts - 1, 2)).lazy.map({ Self.dotted(base + $0) }).first(where: { !used.contains($0) }) else {
            throw Failure("the endpoint pool \(pool) is exhausted")
        }
        let netns = req.adoptNetns ?? "vigil-\(req.name)"
        let hostIf = "vxh\(id)"
        let peerTemp = "vxp\(id)"
        // an adopted namespace may have its own eth0 already
        let inner = req.adoptNetns == nil ? "eth0" : "vigil0"
        let cgroup = (KernelFilesystems.cgroup2Root() ?? "/sys/fs/cgroup") + "/vigil/\(req.name)"
        let record = EndpointRecord(
            name: req.name, namespace: req.namespace, labels: req.labels, id: id, address: addr, netns: netns,
            hostInterface: hostIf, cgroup: cgroup, adopted: req.adoptNetns != nil, policyAuditMode: req.policyAuditMode ? true : nil)
        var undo: [() -> Void] = []
        do {
            if req.adoptNetns != nil {
                guard FileManager.default.fileExists(atPath: "/run/netns/\(netns)") else {
                    throw Failure("network namespace \"\(netns)\" does not exist (ip netns list shows the ones there are)")
                }
            } else {
                guard !FileManager.default.fileExists(atPath: "/run/netns/\(netns)") else {
                    throw Failure("network namespace \"\(netns)\" exists already: adopt it (--netns \(netns)) or remove it (ip netns del \(netns))")
                }
                try Shell.ip(["netns", "add", netns])
                undo.append { _ = try? Shell.ip(["netns", "del", netns]) }
            }
            try Shell.ip(["link", "add", hostIf, "type", "veth", "peer", "name", peerTemp])
            undo.append { _ = try? Shell.ip(["link", "del", hostIf]) }
            try Shell.ip(["link", "set", peerTemp, "netns", netns])
            try Shell.ip(["-n", netns, "link", "set", peerTemp, "name", inner])
            try Shell.ip(["addr", "add", "\(Self.gateway)/32", "dev", hostIf])
            try Shell.ip(["link", "set", hostIf, "up"])
            try Shell.ip(["route", "replace", "\(addr)/32", "dev", hostIf])
            try Shell.ip(["-n", netns, "link", "set", "lo", "up"])
            try Shell.ip(["-n", netns, "addr", "add", "\(addr)/32", "dev", inner])
            try Shell.ip(["-n", netns, "link", "set", inner, "up"])
            try Shell.ip(["-n", netns, "route", "add", "\(Self.gateway)/32", "dev", inner, "scope", "link"])
            try Shell.ip(["-n", netns, "route", "add", "default", "via", Self.gateway, "dev", inner])
            // endpoints are IPv4: IPv6 off inside (the datapath also drops IPv6 into enforced endpoints)
            _ = try? Shell.run("/usr/sbin/ip", ["netns", "exec", netns, "/usr/sbin/sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            try Self.enableForwarding()
            try FileManager.default.createDirectory(atPath: cgroup, withIntermediateDirectories: true)
            undo.append { _ = rmdir(cgroup) }
            let data = try JSONEncoder().encode(record)
            try data.write(to: URL(fileURLWithPath: "\(stateDirectory)/\(req.name).json"), options: .atomic)
        } catch {
            for u in undo.reversed() { u() }
            throw error
        }
        return record
    }

    /// Turns the endpoint's audit mode on or off (the running agent applies it within a
    /// second, without detaching the endpoint). Returns the updated record.
    @discardableResult
    public func setPolicyAuditMode(name: String, _ on: Bool) throws -> EndpointRecord {
        let lock = try Lock(path: "\(stateDirectory)/.lock")
        defer { lock.release() }
        guard var r = list().first(where: { $0.name == name }) else { throw Failure("no endpoint named \"\(name)\" (vigil endpoint list shows them)") }
        r.policyAuditMode = on ? true : nil
        try JSONEncoder().encode(r).write(to: URL(fileURLWithPath: "\(stateDirectory)/\(name).json"), options: .atomic)
        return r
    }

    /// Removes the endpoint's veth, cgroup and (unless adopted) namespace, then its record.
    public func delete(name: String) throws {
        guard let r = list().first(where: { $0.name == name }) else { throw Failure("no endpoint named \"\(name)\" (vigil endpoint list shows them)") }
        _ = try? Shell.ip(["link", "del", r.hostInterface])
        if !r.adopted { _ = try? Shell.ip(["netns", "del", r.netns]) }
        // processes still in the cgroup keep it: move them to the parent first
        if let procs = try? String(contentsOfFile: "\(r.cgroup)/cgroup.procs", encoding: .utf8) {
            for pid in procs.split(separator: "\n") {
                try? "\(pid)\n".write(toFile: (r.cgroup as NSString).deletingLastPathComponent + "/cgroup.procs", atomically: false, encoding: .utf8)
            }
        }
        _ = rmdir(r.cgroup)
        try FileManager.default.removeItem(atPath: "\(stateDirectory)/\(name).json")
    }

    /// The command line that runs `command` inside the endpoint: its network namespace and cgroup.
    public static func execArguments(_ r: EndpointRecord, _ command: [String]) -> [String] {
        // join the cgroup first: `ip netns exec` mounts a fresh /sys, hiding the cgroup tree
        ["/bin/sh", "-c", "echo $$ > \"$0\" && exec /usr/sbin/ip netns exec \"$@\"", "\(r.cgroup)/cgroup.procs", r.netns] + command
    }

    static func dotted(_ v: UInt32) -> String {
        let parts: [UInt32] = [v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255]
        return parts.map { String($0) }.joined(separator: ".")
    }

    /// Routing between endpoints needs IPv4 forwarding on.
    static func enableForwarding() throws {
        let path = "/proc/sys/net/ipv4/ip_forward"
        if (try? String(contentsOfFile: path, encoding: .utf8))?.hasPrefix("1") == true { return }
        do { try "1\n".write(toFile: path, atomically: false, encoding: .utf8) } catch {
            throw Failure("cannot turn on IPv4 forwarding (\(path)): \(error)")
        }
    }
}

/// An exclusive flock on a file, so concurrent `vigil endpoint create` calls do not pick the
/// same id or address.
struct Lock {
    let fd: Int32
    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw EndpointManager.Failure("cannot open lock \(path): \(String(cString: strerror(errno)))") }
        flock(fd, LOCK_EX)
    }
    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// Runs iproute2 and friends, failing with their own message.
enum Shell {
    @discardableResult
    static func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let err = Pipe()
        let out = Pipe()
        p.standardError = err
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw EndpointManager.Failure(
                "\(tool) \(args.joined(separator: " ")): \(String(decoding: e, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return String(decoding: o, as: UTF8.self)
    }

    static func ip(_ args: [String]) throws { try run("/usr/sbin/ip", args) }
}
