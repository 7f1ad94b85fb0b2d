import AgentCore
import BPFKit
import Foundation
import KernelFeatures
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

/// kprobes: policies on kernel functions, on each tier that can host them: fentry
/// (trampolines, preferred) and kprobe. In-process: the process sensor, the policy
/// manager and the ring buffer, without the agent around them.
// kernel-test-requires: fentry fexit kprobe  (read by scripts/test: the class runs only on kernels with all of them)
final class PolicyFunctionTests: XCTestCase {
    static let cat = URL(fileURLWithPath: "/bin/cat").resolvingSymlinksInPath().path

    static func policy(prefix: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: fd-install-watch
        spec:
          kprobes:
          - call: fd_install
            syscall: false
            args:
            - index: 0
              type: int
            - index: 1
              type: file
            selectors:
            - matchArgs:
              - index: 1
                operator: Prefix
                values: ["\(prefix)"]
        """
    }

    /// The running kernel, with the kprobe tier forced when `kprobeOnly`.
    static func environment(kprobeOnly: Bool) -> KernelEnvironment {
        var env = KernelEnvironment.running
        if kprobeOnly {
            env.place = { target in
                if case .function(let s, let r, _) = target { return HookPlacement.place(.function(symbol: s, isReturn: r, preferFentry: false)) }
                return HookPlacement.place(target)
            }
        }
        return env
    }

    func runFdInstall(kprobeOnly: Bool) throws {
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let watched = dir + "/watched"
        let other = dir + "-other"
        FileManager.default.createFile(atPath: watched, contents: Data("x\n".utf8))
        FileManager.default.createFile(atPath: other, contents: Data("y\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: other) }

        let loaded = try LoadedPolicy(Self.policy(prefix: dir + "/"), file: "fd-install.yaml", environment: Self.environment(kprobeOnly: kprobeOnly))
        let manager = loaded.manager
        let hook = try XCTUnwrap(manager.loaded["fd-install-watch"]?.hooks.first)
        XCTAssertEqual(hook.plan.flavour, kprobeOnly ? .kprobe : .fentry)

        var records: [DecodedHookRecord] = []
        let ring = try loaded.records { r, _ in records.append(r) }
        let hit = try KernelTest.run(Self.cat, [watched])
        let miss = try KernelTest.run(Self.cat, [other])
        XCTAssertEqual(hit.status, 0)
        func path(_ r: DecodedHookRecord) -> String? {
            if case .file(let p, _) = r.args.last?.value { return p }
            return nil
        }
        try KernelTest.poll(ring) { records.contains { $0.pid == UInt32(hit.pid) && path($0) == watched } }
        let r = try XCTUnwrap(
            records.first { $0.pid == UInt32(hit.pid) && path($0) == watched }, "no fd_install record for cat \(watched): \(records.map(path))")
        if case .int(let fd) = r.args.first?.value { XCTAssertGreaterThanOrEqual(fd, 3) } else { XCTFail("arg 0 is an int") }
        if case .file(_, let perm) = r.args.last?.value { XCTAssertEqual(perm, "-rw-r--r--") }
        XCTAssertNotNil(r.process, "the caller's exec identity comes from the kernel's process table")
        XCTAssertFalse(records.contains { $0.pid == UInt32(miss.pid) }, "a file outside the prefix never leaves the kernel")
        XCTAssertTrue(records.allSatisfy { (path($0) ?? "").hasPrefix(dir + "/") })
        manager.unloadAll()
        XCTAssertTrue(manager.loaded.isEmpty)
    }

    /// A user_namespace argument (Tetragon's creds-capability-usage shape: cap_capable's target
    /// namespace): the host's (level 0) for a chroot in the host namespace, a child (level 1,
    /// owned by root) for the same chroot under `unshare --user --map-root-user`.
    func testUserNamespaceArgumentOfCapCapable() throws {
        try KernelTest.require(.fexit)
        let python = URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: caps}
            spec:
              kprobes:
              - call: cap_capable
                syscall: false
                return: true
                args: [{index: 1, type: user_namespace}, {index: 2, type: capability}]
                returnArg: {index: 0, type: int}
                selectors:
                - matchBinaries: [{operator: In, values: ["\(python)"]}]
            """
        let loaded = try LoadedPolicy(policy, file: "caps.yaml")
        var records: [DecodedHookRecord] = []
        let ring = try loaded.records { r, _ in records.append(r) }
        let chroot = "import os; os.chroot('/')"
        let host = try KernelTest.run(python, ["-c", chroot])
        // The VM harness runs the tests chrooted into the host's tree over 9p, where the kernel
        // refuses new user namespaces (CLONE_NEWUSER from a chroot is EPERM): there, only the
        // host namespace's case runs; on a machine with fexit and no chroot, both do.
        let child = try KernelTest.run("/usr/bin/unshare", ["--user", "--map-root-user", python, "-c", chroot])
        let childRefused = child.status != 0 && child.stderr.contains("Operation not permitted")
        XCTAssertEqual(host.status, 0, host.stderr)
        if !childRefused { XCTAssertEqual(child.status, 0, child.stderr) }
        func chroots(_ pid: Int32) -> [(level: UInt32, uid: UInt32)] {
            records.filter { $0.pid == UInt32(pid) && $0.args.last?.value == .capability(18) }.compactMap {
                if case .userNamespace(let level, let uid, _, _) = $0.args.first?.value { return (level, uid) }
                return nil
            }
        }
        try KernelTest.poll(ring) { !chroots(host.pid).isEmpty && (childRefused || !chroots(child.pid).isEmpty) }
        let inHost = try XCTUnwrap(chroots(host.pid).first, "CAP_SYS_CHROOT checked for the host's chroot")
        XCTAssertEqual(inHost.level, 0)
        XCTAssertEqual(inHost.uid, 0)
        if !childRefused {
            let inChild = try XCTUnwrap(chroots(child.pid).first, "CAP_SYS_CHROOT checked in the child user namespace")
            XCTAssertEqual(inChild.level, 1)
            XCTAssertEqual(inChild.uid, 0, "root made the namespace")
        }
        let hostInum = try XCTUnwrap(
            records.first { $0.pid == UInt32(host.pid) }.flatMap { r -> UInt32? in
                if case .userNamespace(_, _, _, let inum) = r.args.first?.value { return inum }
                return nil
            })
        let expected = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/user")
        XCTAssertEqual("user:[\(hostInum)]", expected, "the host's user namespace inode")
    }

    /// fexit: the return value read and filtered in the kernel (matchReturnArgs), with the
    /// syscall's own arguments (a kretprobe could not read them).
    func testReturnValueFilterOnFexit() throws {
        try KernelTest.require(.fexit)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let present = dir + "/present"
        let missing = dir + "/missing"
        FileManager.default.createFile(atPath: present, contents: Data("x\n".utf8))
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: failed-opens}
            spec:
              kprobes:
              - call: sys_openat
                syscall: true
                return: true
                args: [{index: 1, type: string}]
                returnArg: {index: 0, type: int}
                selectors:
                - matchArgs: [{index: 1, operator: Prefix, values: ["\(dir)/"]}]
                  matchReturnArgs: [{index: 0, operator: Equal, values: ["-2"]}]
            """
        let loaded = try LoadedPolicy(policy, file: "failed-opens.yaml")
        XCTAssertEqual(loaded.manager.loaded["failed-opens"]?.hooks.first?.plan.flavour, .fexit)
        var records: [DecodedHookRecord] = []
        let ring = try loaded.records { r, _ in records.append(r) }
        let failed = try KernelTest.run(Self.cat, [missing])
        let fine = try KernelTest.run(Self.cat, [present])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertEqual(fine.status, 0)
        try KernelTest.poll(ring) { records.contains { $0.pid == UInt32(failed.pid) } }
        let r = try XCTUnwrap(records.first { $0.pid == UInt32(failed.pid) }, "the failed open is reported")
        XCTAssertEqual(r.returnValue?.value, .int(-2))
        XCTAssertEqual(r.args.first?.value, .string(missing))
        XCTAssertFalse(records.contains { $0.pid == UInt32(fine.pid) }, "a successful open returns an fd: filtered in the kernel")
    }

    func testFdInstallPathPrefixOnFentry() throws {
        try KernelTest.require(.fentry)
        try runFdInstall(kprobeOnly: false)
    }

    func testFdInstallPathPrefixOnKprobe() throws {
        try KernelTest.require(.kprobe)
        try runFdInstall(kprobeOnly: true)
    }
}
