import Foundation
import XCTest

// kernel-test-guests: 6.1: argument reads on the oldest kernel's structures; the guests share two emulated cores
/// The argument type and operators added through docs/extending.md's walkthrough, in a real
/// kernel (syscall tracepoints: every kernel of CI): sockaddr_un (Tetragon's sockaddrun_arg)
/// and FileType / NotFileType on a resolved file.
final class ArgumentTypeTests: XCTestCase {
    /// connect(2)'s address read as a sockaddr_un: the socket path filtered in the kernel,
    /// reported with its family; an abstract name shows as "@name".
    func testSockaddrUnPathFilteredInTheKernel() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agent = try AgentHarness(policies: [
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: unix-connect}
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_connect
                args: [{index: 6, type: sockaddr_un}]
                selectors:
                - matchArgs: [{index: 0, operator: Prefix, values: ["\(dir)/watched", "@vigil-watched"]}]
            """
        ])
        // a listener on each path, then a connect to each (python: the test needs real sockets)
        let script = """
            import socket, sys
            for name in [sys.argv[1] + "/watched.sock", sys.argv[1] + "/other.sock", "\\0vigil-watched-abstract", "\\0vigil-other"]:
                l = socket.socket(socket.AF_UNIX); l.bind(name); l.listen(1)
                c = socket.socket(socket.AF_UNIX); c.connect(name); c.close(); l.close()
            """
        let run = try KernelTest.run("/usr/bin/env", ["python3", "-c", script, dir])
        XCTAssertEqual(run.status, 0, run.stderr)
        let events = try agent.barrier().filter { $0.kind == "process_tracepoint" }
        let paths = events.filter { $0.pid == Int(run.pid) }.compactMap { ($0.args.first?["sockaddrun_arg"] as? [String: Any]) }
        XCTAssertEqual(
            Set(paths.compactMap { $0["path"] as? String }), ["\(dir)/watched.sock", "@vigil-watched-abstract"], "only the watched paths leave the kernel")
        XCTAssertEqual(Set(paths.compactMap { $0["family"] as? String }), ["AF_UNIX"])
    }

    /// FileType on a descriptor's file (fsync(2) takes any open file): the inode's type, judged
    /// on the file the descriptor holds, so a directory and a regular file under the same
    /// prefix are told apart in the kernel.
    func testFileTypeOnTheOpenedFile() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/file", contents: Data("x\n".utf8))
        let agent = try AgentHarness(policies: [
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: dir-syncs}
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_fsync
                args: [{index: 5, type: fd}]
                selectors:
                - matchArgs:
                  - {index: 0, operator: Prefix, values: ["\(dir)/"]}
                  - {index: 0, operator: FileType, values: [dir]}
            """
        ])
        let script = "import os,sys\nfor n in ['/file', '/sub', '/file']:\n    fd = os.open(sys.argv[1] + n, os.O_RDONLY); os.fsync(fd); os.close(fd)"
        let run = try KernelTest.run("/usr/bin/env", ["python3", "-c", script, dir])
        XCTAssertEqual(run.status, 0, run.stderr)
        let mine = try agent.barrier().filter { $0.kind == "process_tracepoint" && $0.pid == Int(run.pid) }
        XCTAssertEqual(
            mine.compactMap { ($0.args.first?["file_arg"] as? [String: Any])?["path"] as? String }, ["\(dir)/sub"], "the directory, not the regular file")
        XCTAssertEqual((mine.first?.args.first?["file_arg"] as? [String: Any])?["permission"] as? String, "drwxr-xr-x")
    }
}
