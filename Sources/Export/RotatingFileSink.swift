import CZlib

#if canImport(Glibc)
    import Glibc
#endif

/// A JSON-lines file with size-based rotation: `PATH` is current, `PATH.1` the newest
/// backup (`PATH.1.gz` with compression), up to `maxBackups`.
///
/// Lines are never torn: the sink is handed whole lines and writes each batch with
/// write(2) on an O_APPEND descriptor, rotating only between batches, so a crash can lose
/// the batch in flight but never leave half a line. Readers follow the file by name and
/// reopen on rotation (as with Tetragon's export).
public final class RotatingFileSink: EventSink {
    public let path: String
    public let maxBytes: Int
    public let maxBackups: Int
    public let compress: Bool
    private var fd: Int32 = -1
    private var size = 0
    /// Number of rotations so far.
    public private(set) var rotations = 0

    public init(path: String, maxBytes: Int = 10 * 1024 * 1024, maxBackups: Int = 5, compress: Bool = false) throws {
        self.path = path
        self.maxBytes = max(maxBytes, 1)
        self.maxBackups = max(maxBackups, 0)
        self.compress = compress
        try open()
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    private func open() throws {
        // a fresh machine has no /var/log/vigil: made here, private (0700) as the file is
        Self.makeParentDirectories(of: path)
        fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if fd < 0 { throw ExportError(operation: "open", path: path, errno: errno) }
        var st = stat()
        size = fstat(fd, &st) == 0 ? Int(st.st_size) : 0
    }

    static func makeParentDirectories(of path: String) {
        var dir = path.hasPrefix("/") ? "" : "."
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).dropLast()
        for p in parts {
            dir += "/" + p
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { return }  // open() then says why
        }
    }

    public func write(_ lines: UnsafeRawBufferPointer) throws {
        // Whole lines only, and no file beyond maxBytes (unless one line is): a batch that fits
        // is written in one call, without looking at its bytes; one that does not is split at
        // the last line end that fits.
        guard let base = lines.baseAddress else { return }
        var start = 0
        while start < lines.count {
            let remaining = lines.count - start
            let room = maxBytes > size ? maxBytes - size : 0
            var end: Int  // index of the last byte to write (a newline, or the batch's end)
            if remaining <= room {
                end = lines.count - 1
            } else if let nl = Self.lastNewline(lines, from: start, before: start + room) {
                end = nl  // only at a rotation: a byte scan back is fine there
            } else if size > 0 {
                try rotate()
                continue
            } else {
                // A single line larger than maxBytes: write it whole rather than tear it.
                let nl = memchr(base + start, 0x0a, remaining)
                end = nl.map { base.distance(to: UnsafeRawPointer($0)) } ?? lines.count - 1
            }
            let chunk = UnsafeRawBufferPointer(rebasing: lines[start...end])
            try writeAll(fd, chunk, path: path)
            size += chunk.count
            start = end + 1
            if size >= maxBytes { try rotate() }
        }
    }

    private static func lastNewline(_ b: UnsafeRawBufferPointer, from start: Int, before limit: Int) -> Int? {
        var i = min(limit, b.count) - 1
        while i >= start {
            if b[i] == 0x0a { return i }
            i -= 1
        }
        return nil
    }

    public func flush() throws {
        if fdatasync(fd) != 0 && errno != EINVAL { throw ExportError(operation: "fdatasync", path: path, errno: errno) }
    }

    public func close() throws {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Opens PATH again (SIGHUP after logrotate moved the file away): returns whether the
    /// name now leads to another file than the one written so far.
    @discardableResult
    public func reopen() throws -> Bool {
        var before = stat()
        let had = fd >= 0 && fstat(fd, &before) == 0
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        try open()
        var after = stat()
        guard had, fstat(fd, &after) == 0 else { return true }
        return before.st_ino != after.st_ino || before.st_dev != after.st_dev
    }

    /// The live file's permission bits: backups get the same (never wider than the file).
    private func liveMode() -> mode_t {
        var st = stat()
        return fd >= 0 && fstat(fd, &st) == 0 ? st.st_mode & 0o7777 : 0o600
    }

    private func backup(_ n: Int) -> String { "\(path).\(n)" + (compress ? ".gz" : "") }

    /// PATH -> PATH.1 (compressed if asked), PATH.k -> PATH.k+1, the oldest removed.
    private func rotate() throws {
        let mode = liveMode()
        Glibc.close(fd)
        fd = -1
        if maxBackups == 0 {
            unlink(path)
        } else {
            unlink(backup(maxBackups))
            if maxBackups > 1 {
                for n in stride(from: maxBackups - 1, through: 1, by: -1) { rename(backup(n), backup(n + 1)) }
            }
            if compress {
                try gzip(path, to: backup(1), mode: mode)
                unlink(path)
            } else if rename(path, backup(1)) != 0 {
                throw ExportError(operation: "rename", path: path, errno: errno)
            }
        }
        rotations += 1
        try open()
    }

    private func gzip(_ source: String, to destination: String, mode: mode_t) throws {
        let tmp = destination + ".tmp"
        // created with the live file's mode (gzopen would make it 0666 less the umask)
        unlink(tmp)
        let tmpFD = Glibc.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        if tmpFD < 0 { throw ExportError(operation: "open", path: tmp, errno: errno) }
        fchmod(tmpFD, mode)  // the umask may have narrowed it; never widened beyond the file's
        guard let out = gzdopen(tmpFD, "wb6") else {
            Glibc.close(tmpFD)
            throw ExportError(operation: "gzdopen", path: tmp, errno: errno)
        }
        let input = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        if input < 0 {
            gzclose(out)
            throw ExportError(operation: "open", path: source, errno: errno)
        }
        defer { Glibc.close(input) }
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buf.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            _ = buf.withUnsafeBytes { gzwrite(out, $0.baseAddress, UInt32(n)) }
        }
        gzclose(out)
        // Rename last: a reader never sees a half-written .gz under its final name.
        if rename(tmp, destination) != 0 { throw ExportError(operation: "rename", path: tmp, errno: errno) }
    }
}
