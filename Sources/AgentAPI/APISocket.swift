import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The API's unix socket, bound by Vigil itself so that its mode is 0600 before it listens:
/// only root (or a process with CAP_DAC_OVERRIDE) can connect, and no connection is ever
/// accepted under wider permissions. A socket file left by a dead agent is replaced; one a
/// live agent answers on is not (one agent per node).
public enum APISocket {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `unix:///var/run/vigil/vigil.sock` → `/var/run/vigil/vigil.sock`.
    public static func path(of address: String) throws -> String {
        guard address.hasPrefix("unix://"), address.count > "unix://".count else {
            throw Failure(description: "server address \(address): expected unix:///path/to/socket")
        }
        return String(address.dropFirst("unix://".count))
    }

    /// A listening socket at `path` (parent directories made 0755, the socket 0600).
    public static func listen(path: String) throws -> Int32 {
        guard path.utf8.count < 108 else { throw Failure(description: "socket path \(path) is longer than 107 bytes") }
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        if FileManager.default.fileExists(atPath: path) {
            if let pid = livePeer(path: path) {
                throw Failure(description: "another agent serves \(path) (pid \(pid)): one agent per node; stop it first")
            }
            unlink(path)  // left by an agent that died
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var addr = address(path)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw Failure(description: "bind \(path): \(String(cString: strerror(e)))")
        }
        guard chmod(path, 0o600) == 0, Glibc.listen(fd, 64) == 0 else {
            let e = errno
            close(fd)
            unlink(path)
            throw Failure(description: "listen on \(path): \(String(cString: strerror(e)))")
        }
        return fd
    }

    /// The pid of the process answering on `path`, nil when nobody does.
    static func livePeer(path: String) -> pid_t? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = address(path)
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { return nil }
        // struct ucred {pid, uid, gid}: Glibc's module leaves it out (it needs _GNU_SOURCE)
        var cred: (pid: pid_t, uid: uid_t, gid: gid_t) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(pid_t, uid_t, gid_t)>.size)
        return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : -1
    }

    static func address(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        return addr
    }
}
