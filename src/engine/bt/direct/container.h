/* The container process of direct execution (container.c): creation, tracing, and system calls
 * injected at its gadget. Private to src/engine/bt/direct/.
 */
#ifndef VMON_BT_DIRECT_CONTAINER_H
#define VMON_BT_DIRECT_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* The gadget page: 0xcc everywhere but `syscall` at its last three bytes before a final int3;
 * the page after it stays unmapped. 32 TiB - 8 KiB: below where Linux places PIE binaries
 * (0x55..), mmap areas (0x7f..) and stacks, above brk heaps of non-PIE binaries, and outside
 * AddressSanitizer's shadow (which ends at 0x10007fff7fff) for the test build. A guest address
 * space that maps either page runs in the engine. */
#define DX_GADGET		0x00001fffffffe000ull
#define DX_GADGET_END		(DX_GADGET + 2 * 4096)
#define DX_GADGET_SYSCALL	(DX_GADGET + 4093)
#define DX_GADGET_RET		(DX_GADGET + 4095)	/* rip after the syscall: its int3 */
/* Highest user address a host process can map (4-level paging): the guest's user half above
 * it (its last page) runs in the engine. */
#define DX_USER_TOP		0x00007ffffffff000ull

struct dx_container {
	pid_t pid;		/* 0: none */
	bool attached;		/* traced by the vCPU thread, set up */
	int pinned_cpu;		/* host CPU the container is pinned to, -1 none */
	struct user_regs_struct base;	/* registers as attached: selectors for injections */
};

/* Fork the container (memfd stays open in it, every other descriptor is closed). Returns 0 or
 * -1 with a message in err. */
int dx_container_create(struct dx_container *c, int memfd, char *err, size_t len);
/* Called on a vCPU thread before it runs the container: trace it; the first time also install
 * the container's own seccomp filter and unmap everything but the gadget. Returns 0 or -1
 * (message in err). */
int dx_container_attach(struct dx_container *c, char *err, size_t len);
/* Stop tracing it, leaving it stopped (group stop) for the next dx_container_attach. */
void dx_container_detach(struct dx_container *c);
void dx_container_destroy(struct dx_container *c);

/* Run one system call in the stopped container through the gadget. Returns its result (a
 * negative errno), or -ESRCH if the container is gone. *kicked is set if a kick signal
 * arrived meanwhile (it is suppressed). */
long dx_inject(struct dx_container *c, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
	       uint64_t a3, uint64_t a4, uint64_t a5, bool *kicked);

/* Keep the container on the host CPU the calling thread runs on: a cross-core wake-up costs
 * ten times a same-core switch on these hosts. */
void dx_container_follow(struct dx_container *c);

/* arch_prctl(ARCH_SET_CPUID, 0): CPUID faults in the calling thread. */
#define DX_ARCH_SET_CPUID	0x1012

/* The signal that kicks a running container out of guest code. */
#define DX_KICK_SIGNAL	SIGUSR1

/* Wait for the container's next stop. Returns the wait status, or -1 if it is gone; with
 * interruptible, also -1 with errno EINTR when a signal (the vCPU's timer) came first. */
int dx_wait_stop(struct dx_container *c, bool interruptible);
#endif
