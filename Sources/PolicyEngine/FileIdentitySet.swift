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
/// The plan holds only the paths (compiling never touches the file system); `resolveHeld()`
/// opens them when the hook loads, and again every 2 seconds (a watched file replaced has a
/// new inode). An old identity stays while its file still has a name (a hardlink made before
/// the replacement reaches the old content) and goes when it has none: its descriptor held
/// meanwhile keeps its inode number from passing to another file (HeldFiles).
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

    /// The identities of the named files as they are now that `isHeld` does not know yet, each
    /// with a descriptor (O_PATH) the caller holds while the identity is in the kernel's map
    /// (HeldFiles: a held inode's number is not given to another file) and closes when it is
    /// not kept. A file already held is only stat'ed (this runs every 2 seconds).
    func resolveHeld(isHeld: (Identity) -> Bool) -> [(Identity, Int32)] {
        var out: [(Identity, Int32)] = []
        var seen: Set<Identity> = []
        func add(_ set: UInt32, _ path: String) {
            guard let now = HeldFiles<Identity>.identify(path), now.mode & S_IFMT != S_IFDIR else { return }
            guard !isHeld(Identity(set: set, device: now.device, inode: now.inode)) else { return }
            guard let f = HeldFiles<Identity>.open(path) else { return }
            // the file as opened (it may have been replaced since the stat)
            let id = Identity(set: set, device: f.device, inode: f.inode)
            guard f.mode & S_IFMT != S_IFDIR, !isHeld(id), seen.insert(id).inserted else {
                if f.fd >= 0 { close(f.fd) }
                return
            }
            out.append((id, f.fd))
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
