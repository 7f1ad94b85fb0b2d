/// The pathname arguments of the x86-64 syscalls, by their tracepoint field names: the ones
/// that name a file the kernel will reach (resolved in the kernel, bpf/include/vigil_pathname.h,
/// never matched only as the caller's string), each with the directory descriptor a relative
/// name starts from. Left out on purpose: symlink's target (`oldname`: text stored in the link,
/// not a path the call reaches), xattr and key names, mount's file system type.
enum SyscallPaths {
    struct Field: Equatable {
        let name: String
        /// The field holding the directory descriptor (the *at syscalls); nil: the working directory.
        let dirfd: String?
        init(_ name: String, dirfd: String? = nil) {
            self.name = name
            self.dirfd = dirfd
        }
    }

    static let fields: [String: [Field]] = [
        "open": [Field("filename")], "openat": [Field("filename", dirfd: "dfd")], "openat2": [Field("filename", dirfd: "dfd")],
        "creat": [Field("pathname")],
        "rename": [Field("oldname"), Field("newname")],
        "renameat": [Field("oldname", dirfd: "olddfd"), Field("newname", dirfd: "newdfd")],
        "renameat2": [Field("oldname", dirfd: "olddfd"), Field("newname", dirfd: "newdfd")],
        "link": [Field("oldname"), Field("newname")],
        "linkat": [Field("oldname", dirfd: "olddfd"), Field("newname", dirfd: "newdfd")],
        "symlink": [Field("newname")], "symlinkat": [Field("newname", dirfd: "newdfd")],
        "unlink": [Field("pathname")], "unlinkat": [Field("pathname", dirfd: "dfd")], "rmdir": [Field("pathname")],
        "mkdir": [Field("pathname")], "mkdirat": [Field("pathname", dirfd: "dfd")],
        "mknod": [Field("filename")], "mknodat": [Field("filename", dirfd: "dfd")],
        "chmod": [Field("filename")], "fchmodat": [Field("filename", dirfd: "dfd")], "fchmodat2": [Field("filename", dirfd: "dfd")],
        "chown": [Field("filename")], "lchown": [Field("filename")], "fchownat": [Field("filename", dirfd: "dfd")],
        "truncate": [Field("path")],
        "utime": [Field("filename")], "utimes": [Field("filename")], "utimensat": [Field("filename", dirfd: "dfd")],
        "futimesat": [Field("filename", dirfd: "dfd")],
        "setxattr": [Field("pathname")], "lsetxattr": [Field("pathname")], "removexattr": [Field("pathname")],
        "lremovexattr": [Field("pathname")], "getxattr": [Field("pathname")], "lgetxattr": [Field("pathname")],
        "listxattr": [Field("pathname")], "llistxattr": [Field("pathname")],
        "setxattrat": [Field("pathname", dirfd: "dfd")], "removexattrat": [Field("pathname", dirfd: "dfd")],
        "getxattrat": [Field("pathname", dirfd: "dfd")], "listxattrat": [Field("pathname", dirfd: "dfd")],
        "execve": [Field("filename")], "execveat": [Field("filename", dirfd: "fd")],
        "chdir": [Field("filename")], "chroot": [Field("filename")], "acct": [Field("name")],
        "access": [Field("filename")], "faccessat": [Field("filename", dirfd: "dfd")], "faccessat2": [Field("filename", dirfd: "dfd")],
        "newstat": [Field("filename")], "newlstat": [Field("filename")], "newfstatat": [Field("filename", dirfd: "dfd")],
        "statx": [Field("filename", dirfd: "dfd")], "statfs": [Field("pathname")],
        "readlink": [Field("path")], "readlinkat": [Field("pathname", dirfd: "dfd")],
        "name_to_handle_at": [Field("name", dirfd: "dfd")], "open_tree": [Field("filename", dirfd: "dfd")],
        "mount": [Field("dir_name")], "umount": [Field("name")], "pivot_root": [Field("new_root"), Field("put_old")],
        "mount_setattr": [Field("path", dirfd: "dfd")], "fspick": [Field("path", dirfd: "dfd")],
        "move_mount": [Field("from_pathname", dirfd: "from_dfd"), Field("to_pathname", dirfd: "to_dfd")],
        "fanotify_mark": [Field("pathname", dirfd: "dfd")], "inotify_add_watch": [Field("pathname")],
        "swapon": [Field("specialfile")], "swapoff": [Field("specialfile")], "quotactl": [Field("special")],
        "file_getattr": [Field("filename", dirfd: "dfd")], "file_setattr": [Field("filename", dirfd: "dfd")],
    ]

    /// Syscalls that open a file and return its descriptor: a selector on their pathname is
    /// judged at the syscall's exit, by the file the kernel opened.
    static let opens: Set<String> = ["open", "openat", "openat2", "creat"]

    /// The syscall of a `syscalls` tracepoint event name (`sys_enter_openat` -> openat).
    static func syscall(ofEvent event: String) -> String? {
        event.hasPrefix("sys_enter_") ? String(event.dropFirst("sys_enter_".count)) : nil
    }

    /// The pathname field named `field` of `syscall`, if it is one.
    static func field(_ syscall: String, _ field: String) -> Field? { fields[syscall]?.first { $0.name == field } }

    /// A syscall tracepoint field's argument position (fields follow the 8-byte common header
    /// and __syscall_nr, 8 bytes apart).
    static func position(ofFieldAt offset: Int) -> UInt32? {
        offset >= 16 && offset % 8 == 0 && offset < 16 + 6 * 8 ? UInt32((offset - 16) / 8) : nil
    }
}
