#pragma once
/* glibc headers Swift's Glibc module does not export: malloc.h (malloc_trim), and
 * sys/prctl.h, whose variadic prctl() Swift cannot call (hence the wrapper). */
#include <malloc.h>
#include <sys/prctl.h>

/* The signal the kernel sends this process when its parent exits (PR_SET_PDEATHSIG). */
static inline int vigil_set_parent_death_signal(int sig)
{
	return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL);
}
