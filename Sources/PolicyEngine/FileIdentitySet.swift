import Foundation
import Sensors

/// The files a hook's path filters name exactly, to be matched by identity as well as by path
/// (bpf/include/hook_filters.h): a hardlink of /etc/shadow, or /etc/shadow reached through a
/// bind mount, is /etc/shadow.
///
/// Which values name files: an Equal (or matchBinaries In/NotIn) value that is an existing
/// file, and a Prefix value that is one (`/etc/shadow`), with the files beside it whose names
/// continue it (`/etc/shadow-`, the backup). A directory prefix (`/etc/ssh/`) is matched by
/// path only: its files come and go, and a hardlink to one of them is made by a link() that
/// the path hooks see. Postfix values name no file.
///
/// The plan holds only the paths (compiling never touches the file system); `resolve()` stats
/// them when the hook loads, and again when the agent sees a watched file replaced (a new
/// inode): identities are added, never removed while the hook runs, since an old inode may
/// still be reachable through a hardlink made before the replacement.
public struct FileIdentitySet: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var set: UInt32
        public var path: String
        /// A Prefix value: also the files beside it whose names start with its last component.
        public var prefix: Bool
    }

    /// One file of a set, as the kernel keys it.
    public struct Identity: Sendable, Hashable {
        public var set: UInt32
        public var device: UInt32
        public var inode: UInt64
    }

    public private(set) var sets: [Entry] = []
    /// Identities the hook's map holds at most.
    public var capacity = 4096
    private var nextSet: UInt32 = 1

    public init() {}

    /// A set for one filter's values; nil when none of them can name a file.
    mutating func add(_ values: [String], prefix: Bool) -> UInt32? {
        let named = values.filter { $0.hasPrefix("/") && !$0.hasSuffix("/") }
        guard !named.isEmpty else { return nil }
        let set = nextSet
        nextSet += 1
        for v in named { sets.append(Entry(set: set, path: v, prefix: prefix)) }
        return set
    }

    /// The directories holding the named files: where a replacement shows up.
    public var watchedDirectories: Set<String> {
        Set(sets.map { ($0.path as NSString).deletingLastPathComponent })
    }

    /// The identities of the named files as they are now.
    public func resolve() -> [Identity] {
        var out: [Identity] = []
        var seen: Set<Identity> = []
        func add(_ set: UInt32, _ path: String) {
            var st = stat()
            // follow a symlink: an open of the link reaches the file it names
            guard stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFDIR else { return }
            let id = Identity(set: set, device: SuperBlockRoots.kernelDevice(statDevice: UInt64(st.st_dev)), inode: UInt64(st.st_ino))
            if seen.insert(id).inserted { out.append(id) }
        }
        for e in sets {
            add(e.set, e.path)
            guard e.prefix else { continue }
            let dir = (e.path as NSString).deletingLastPathComponent
            let stem = (e.path as NSString).lastPathComponent
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(stem) && name != stem {
                add(e.set, (dir as NSString).appendingPathComponent(name))
            }
        }
        return out
    }
}
