import AgentCore
import CVigilABI

/// A process record from the kernel, decoded in place from ring-buffer bytes.
public enum ProcessRecord: Sendable {
    case exec(ExecRecord)
    case fork(child: ExecIdentity, parent: ExecIdentity, pid: UInt32, ppid: UInt32, timeNs: UInt64)
    case exit(id: ExecIdentity, pid: UInt32, tid: UInt32, exitCode: UInt32, timeNs: UInt64)

    /// What the exec record carries, already turned into Swift values.
    public struct ExecRecord: Sendable {
        public var entry: ProcessEntry
        /// Parent as the kernel's table knew it (ktime 0 when it did not).
        public var parent: ExecIdentity
        public var ppid: UInt32
        public var timeNs: UInt64
        /// task->start_boottime: ns since boot when the process started.
        public var startBoottimeNs: UInt64
        /// cgroup v2 path below the hierarchy root.
        public var cgroupPath: String
        /// The pipes on stdin and stdout at exec (their inode identity; 0 when not a pipe).
        public var stdinPipe: UInt64 = 0
        public var stdoutPipe: UInt64 = 0
        /// Whether stdin / stdout were sockets at exec.
        public var stdioSocket = false
        /// Whether the parent's stdin / stdout were sockets at exec, or (stdin a pty) the
        /// parent held an IPv4/IPv6 socket.
        public var parentStdioSocket = false
    }

    /// Why a record could not be decoded.
    public enum DecodeError: Error, Equatable {
        case short(Int)
        case unknownKind(UInt32)
        case sizeMismatch(kind: UInt32, size: Int)
    }

    /// Decodes one record. Unknown kinds are an error, never undefined behaviour.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> ProcessRecord {
        guard bytes.count >= MemoryLayout<vigil_record_header>.size else { throw .short(bytes.count) }
        let header = bytes.loadUnaligned(as: vigil_record_header.self)
        switch header.kind {
        case VIGIL_RECORD_EXEC:
            guard bytes.count >= MemoryLayout<vigil_exec_record>.size else { throw .sizeMismatch(kind: header.kind, size: bytes.count) }
            return .exec(decodeExec(bytes))
        case VIGIL_RECORD_FORK:
            guard bytes.count >= MemoryLayout<vigil_fork_record>.size else { throw .sizeMismatch(kind: header.kind, size: bytes.count) }
            let r = bytes.loadUnaligned(as: vigil_fork_record.self)
            return .fork(child: ExecIdentity(r.id), parent: ExecIdentity(r.parent), pid: r.pid, ppid: r.ppid, timeNs: header.ktime_ns)
        case VIGIL_RECORD_EXIT:
            guard bytes.count >= MemoryLayout<vigil_exit_record>.size else { throw .sizeMismatch(kind: header.kind, size: bytes.count) }
            let r = bytes.loadUnaligned(as: vigil_exit_record.self)
            return .exit(id: ExecIdentity(r.id), pid: r.pid, tid: r.tid, exitCode: r.exit_code, timeNs: header.ktime_ns)
        default:
            throw .unknownKind(header.kind)
        }
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> String {
        let field = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        let end = field.firstIndex(of: 0) ?? count
        return String(decoding: UnsafeRawBufferPointer(rebasing: field[0..<end]), as: UTF8.self)
    }

    private static func decodeExec(_ bytes: UnsafeRawBufferPointer) -> ExecRecord {
        // Scalars are copied out; the big character arrays are read in place by offset.
        let r = bytes.loadUnaligned(as: vigil_exec_record.self)
        let binaryOffset = MemoryLayout<vigil_exec_record>.offset(of: \.binary)!
        let cwdOffset = MemoryLayout<vigil_exec_record>.offset(of: \.cwd)!
        let argsOffset = MemoryLayout<vigil_exec_record>.offset(of: \.args)!
        let cgOffset = MemoryLayout<vigil_exec_record>.offset(of: \.cgroup_path)!
        var entry = ProcessEntry(id: ExecIdentity(r.id), parent: nil, binary: string(bytes, binaryOffset, Int(VIGIL_PATH_LEN)))
        entry.pid = r.pid
        entry.tid = r.tid
        entry.uid = r.uid
        entry.gid = r.gid
        entry.euid = r.euid
        entry.egid = r.egid
        entry.auid = r.auid
        entry.cwd = string(bytes, cwdOffset, Int(VIGIL_PATH_LEN))
        let argsLen = min(Int(r.args_len), Int(VIGIL_ARGS_LEN))
        entry.arguments = ProcessEntry.arguments(fromArgv: UnsafeRawBufferPointer(rebasing: bytes[argsOffset..<(argsOffset + argsLen)]))
        var flags: ProcessFlags = [.execve]
        if r.flags & VIGIL_EXEC_ARGS_TRUNCATED != 0 { flags.insert(.truncArgs) }
        if r.flags & VIGIL_EXEC_PATH_TRUNCATED != 0 { flags.insert(.truncPath) }
        if entry.cwd == "/" { flags.insert(.rootCWD) }
        if entry.cwd.isEmpty { flags.insert(.noCWD) }
        entry.flags = flags
        entry.caps = CapabilitySets(permitted: r.cap_permitted, effective: r.cap_effective, inheritable: r.cap_inheritable)
        entry.namespaces = Namespaces(inodes: withUnsafeBytes(of: r.ns) { Array($0.bindMemory(to: UInt32.self)) })
        entry.cgroupID = r.cgroup_id
        let cgroupPath = string(bytes, cgOffset, Int(VIGIL_CGROUP_PATH_LEN))
        entry.cgroupPath = cgroupPath
        entry.containerID = ProcessEntry.containerID(fromCgroupPath: cgroupPath)
        return ExecRecord(
            entry: entry, parent: ExecIdentity(r.parent), ppid: r.ppid, timeNs: r.header.ktime_ns,
            startBoottimeNs: r.start_boottime, cgroupPath: cgroupPath, stdinPipe: r.stdin_pipe, stdoutPipe: r.stdout_pipe,
            stdioSocket: r.flags & (VIGIL_EXEC_STDIN_SOCKET | VIGIL_EXEC_STDOUT_SOCKET) != 0,
            parentStdioSocket: r.flags & VIGIL_EXEC_PARENT_STDIO_SOCKET != 0)
    }
}

extension ExecIdentity {
    init(_ raw: vigil_exec_id) { self.init(ktime: raw.ktime, pid: raw.pid) }
}
