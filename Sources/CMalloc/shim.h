#pragma once
/* glibc headers Swift's Glibc module does not export: malloc.h (malloc_trim), and
 * sys/prctl.h and syscall(), which are variadic and which Swift cannot call (hence the
 * wrappers). */
#include <malloc.h>
#include <sys/prctl.h>

/* The signal the kernel sends this process when its parent exits (PR_SET_PDEATHSIG). */
static inline int vigil_set_parent_death_signal(int sig)
{
	return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL);
}

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif

/* open_tree(2) without OPEN_TREE_CLONE: an O_PATH reference to the file at `path` (symlinks
 * followed), which keeps its inode allocated. It opens nothing for reading, and unlike an
 * O_PATH openat it is not a call the open hooks judge: the agent holding the files its
 * policies name must not trip those policies (deny-shadow-read kills the opener). */
static inline int vigil_hold_path(const char *path)
{
	return (int)syscall(SYS_open_tree, AT_FDCWD, path, (unsigned)O_CLOEXEC);
}
