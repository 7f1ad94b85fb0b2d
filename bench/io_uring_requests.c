/* One io_uring request at a time (submit, wait, reap), N times: the cost per request of
 * what is attached to io_uring's tracepoints. usage: io_uring_requests N OPCODE (0 NOP, 22 READ
 * of 64 bytes of /etc/hostname). Built and run by scripts/bench-io-uring. */
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
int main(int argc, char **argv) {
	long n = argc > 1 ? atol(argv[1]) : 1000000; int op = argc > 2 ? atoi(argv[2]) : IORING_OP_NOP;
	struct io_uring_params p; memset(&p, 0, sizeof p);
	int fd = syscall(__NR_io_uring_setup, 8, &p);
	char *sq = mmap(0, p.sq_off.array + p.sq_entries * 4, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	char *cq = mmap(0, p.cq_off.cqes + p.cq_entries * 16, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_POPULATE, fd, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(0, p.sq_entries * 64, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_POPULATE, fd, IORING_OFF_SQES);
	unsigned *tail = (unsigned *)(sq + p.sq_off.tail), *mask = (unsigned *)(sq + p.sq_off.ring_mask), *arr = (unsigned *)(sq + p.sq_off.array);
	unsigned *chead = (unsigned *)(cq + p.cq_off.head);
	int dfd = open("/etc/hostname", O_RDONLY); char buf[64];
	struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		unsigned t = *tail, idx = t & *mask;
		memset(&sqes[idx], 0, 64); sqes[idx].opcode = op;
		if (op == IORING_OP_READ) { sqes[idx].fd = dfd; sqes[idx].addr = (unsigned long)buf; sqes[idx].len = 64; sqes[idx].off = 0; }
		arr[idx] = idx; __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
		syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, 0, 0);
		__atomic_store_n(chead, *chead + 1, __ATOMIC_RELEASE);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.0f ns per request (op %d)\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n, op);
}
