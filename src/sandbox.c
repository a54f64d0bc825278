/* seccomp-bpf allowlist (libseccomp) installed once the VM is built: RAM mapped, disks, console,
 * API and migration sockets open, a snapshot or incoming stream loaded, the engine chosen and its
 * vCPUs created. What is left is I/O on those descriptors, memory management, threads and
 * clocks; a call outside the list kills the whole process (SIGSYS), so a device-model bug the
 * guest exploits cannot open files, exec, or create sockets beyond what the policy grants.
 *
 * The list was found with `strace -f` on every feature (tiny guests, Linux with --disk, --rng,
 * --net user, the API incl. snapshot and migrate, --restore, --incoming, Ctrl-A x, signals,
 * reboot) under the bt engine; the kvm engine's additions were read from its source and the
 * tiny guests pass with them under `make kvm-nested` (no /dev/kvm on the machine otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "host_file.h"
#include "sandbox.h"
#include "util/log.h"

#define KVMIO		0xAE	/* ioctl type of every /dev/kvm, VM and vCPU request */
#define SOCK_TYPE_MASK	0xf	/* socket()'s type without SOCK_NONBLOCK / SOCK_CLOEXEC */
/* Every file-system right of Landlock's first ABI: what the slirp helper gives up. */
#define LANDLOCK_FS_V1	((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)


static bool active;
static int tracees[64];
static int nr_tracees;

void sandbox_add_tracee(int pid)
{
	if (nr_tracees < (int)(sizeof(tracees) / sizeof(tracees[0])))
		tracees[nr_tracees++] = pid;
}

/* Without arguments to check: descriptor I/O, waiting, memory, signals, thread exit. */
static const int plain_calls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
	SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(lseek), SCMP_SYS(close),
	SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fstat),
	SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(futex), SCMP_SYS(sched_yield), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(getrandom),		/* virtio-rng */
};

/* Terminal requests of the console (raw mode, restored on exit) and non-blocking sockets. */
static const unsigned long tty_ioctls[] = { TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ,
					    FIONBIO, FIONREAD };

/* F_DUPFD_CLOEXEC: a guest reset reads the power-on state through a copy of its fd (reset.c). */
static const int fcntl_cmds[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC };

struct filter {
	scmp_filter_ctx ctx;
	int err;		/* first libseccomp error (negative errno) */
};

static void rule(struct filter *f, uint32_t action, int nr, unsigned argc,
		 const struct scmp_arg_cmp *args)
{
	int e = seccomp_rule_add_array(f->ctx, action, nr, argc, args);

	if (e < 0 && !f->err)
		f->err = e;
}

static void allow(struct filter *f, int nr)
{
	rule(f, SCMP_ACT_ALLOW, nr, 0, NULL);
}

static void allow_if(struct filter *f, int nr, struct scmp_arg_cmp cmp)
{
	rule(f, SCMP_ACT_ALLOW, nr, 1, &cmp);
}

/* socket(domain, type) for a stream (and, if dgram, datagram) socket of that domain. */
static void allow_socket(struct filter *f, int domain, bool dgram)
{
	struct scmp_arg_cmp stream[] = { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)domain),
		SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_MASK, SOCK_STREAM) };

	rule(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, stream);
	if (dgram) {
		struct scmp_arg_cmp datagram[] = { stream[0],
			SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_MASK, SOCK_DGRAM) };
		rule(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2, datagram);
	}
}

static void add_base(struct filter *f)
{
	for (size_t i = 0; i < sizeof(plain_calls) / sizeof(plain_calls[0]); i++)
		allow(f, plain_calls[i]);
	for (size_t i = 0; i < sizeof(tty_ioctls) / sizeof(tty_ioctls[0]); i++)
		allow_if(f, SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_EQ, tty_ioctls[i]));
	for (size_t i = 0; i < sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]); i++)
		allow_if(f, SCMP_SYS(fcntl), SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)fcntl_cmds[i]));

	/* No new executable memory: the translation cache was mapped when its vCPU was made. */
	allow_if(f, SCMP_SYS(mmap), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	allow_if(f, SCMP_SYS(mprotect), SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* fstat() by descriptor only (glibc makes it fstatat(fd, "", AT_EMPTY_PATH)). */
	allow_if(f, SCMP_SYS(newfstatat), SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	/* Threads (the migration sender) but no processes. clone3 passes its flags in memory a
	 * filter cannot read, so it fails and glibc falls back to clone. */
	allow_if(f, SCMP_SYS(clone), SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	rule(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
	/* Signals to our own threads only: kicks, raise() in the fatal-signal handlers. */
	allow_if(f, SCMP_SYS(tgkill), SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
}

static void add_api(struct filter *f)
{
	allow(f, SCMP_SYS(accept4));
	/* snapshot: FILE.tmp written, fsynced, renamed (unlinked on failure); the socket
	 * itself is unlinked on exit. */
	allow_if(f, SCMP_SYS(openat), SCMP_A2(SCMP_CMP_EQ, HOST_FILE_CREATE_FLAGS));
	allow(f, SCMP_SYS(rename));
	allow(f, SCMP_SYS(unlink));
	/* migrate: one stream socket to the target (numeric address, see sandbox_active()). */
	allow_socket(f, AF_UNIX, false);
	allow_socket(f, AF_INET, false);
	allow_socket(f, AF_INET6, false);
	allow(f, SCMP_SYS(connect));
	allow(f, SCMP_SYS(setsockopt));
	/* Ending a migration (done, cancelled, or the VM quit under it) unblocks its sender. */
	allow(f, SCMP_SYS(shutdown));
}

/* The slirp helper (src/net/slirp_helper.c), not vmon: slirp proxies the guest's TCP, UDP and
 * ping (a datagram ICMP socket; its fallback, a raw socket, fails with EPERM). */
static void add_net(struct filter *f)
{
	static const int inet[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < sizeof(inet) / sizeof(inet[0]); i++) {
		struct scmp_arg_cmp raw[] = { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)inet[i]),
			SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_MASK, SOCK_RAW) };
		rule(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2, raw);
	}
	allow_socket(f, AF_INET, true);
	allow_socket(f, AF_INET6, true);
	static const int calls[] = { SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen),
		SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(setsockopt),
		SCMP_SYS(getsockopt), SCMP_SYS(shutdown) };
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		allow(f, calls[i]);
	/* Its DNS forwarder (10.0.2.3) reads /etc/resolv.conf itself, with fopen(.., "r"), and
	 * stat()s it to see it change: plain O_RDONLY opens (vmon's own always add O_CLOEXEC,
	 * and a file opened so cannot be written) and stat by path stay allowed with --net. */
	allow_if(f, SCMP_SYS(openat), SCMP_A2(SCMP_CMP_EQ, O_RDONLY));
	allow_if(f, SCMP_SYS(newfstatat), SCMP_A3(SCMP_CMP_EQ, 0));
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* The test builds (ASan, UBSan, LSan; TSan) only, never vmon itself: each new thread reads its
 * stack bounds (pthread_getattr_np: sched_getaffinity), a report reads /proc/self/maps and the
 * binary, and LeakSanitizer at exit stops the world from a ptrace-ing clone of the process. */
static void add_sanitizer(struct filter *f)
{
	const scmp_datum_t writes = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;

	allow(f, SCMP_SYS(sched_getaffinity));
	allow(f, SCMP_SYS(sigaltstack));
	/* The symbolizer finds the binary through /proc/self/exe. */
	allow(f, SCMP_SYS(readlink));
	allow(f, SCMP_SYS(readlinkat));
	allow(f, SCMP_SYS(newfstatat));
	allow(f, SCMP_SYS(readlink));		/* a TSan report symbolizes library paths */
	static const int lsan_calls[] = { SCMP_SYS(prctl), SCMP_SYS(ptrace), SCMP_SYS(wait4),
		SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(getppid) };
	for (size_t i = 0; i < sizeof(lsan_calls) / sizeof(lsan_calls[0]); i++)
		allow(f, lsan_calls[i]);
	allow_if(f, SCMP_SYS(clone), SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM | CLONE_UNTRACED,
					      CLONE_VM | CLONE_UNTRACED));
#ifdef __SANITIZE_THREAD__
	(void)writes;
	allow(f, SCMP_SYS(open));	/* a report goes to the file TSAN_OPTIONS log_path names */
	allow(f, SCMP_SYS(openat));
#else
	allow_if(f, SCMP_SYS(open), SCMP_A1(SCMP_CMP_MASKED_EQ, writes, 0));
	allow_if(f, SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, writes, 0));
#endif
}
#endif

/* Direct execution (src/engine/bt/direct/): each container is traced by its vCPU thread. */
static void add_tracees(struct filter *f)
{
	for (int k = 0; k < nr_tracees; k++) {
		scmp_datum_t pid = (scmp_datum_t)tracees[k];
		allow_if(f, SCMP_SYS(ptrace), SCMP_A1(SCMP_CMP_EQ, pid));
		allow_if(f, SCMP_SYS(wait4), SCMP_A0(SCMP_CMP_EQ, pid));
		allow_if(f, SCMP_SYS(kill), SCMP_A0(SCMP_CMP_EQ, pid));
		allow_if(f, SCMP_SYS(sched_setaffinity), SCMP_A0(SCMP_CMP_EQ, pid));
	}
	static const int calls[] = { SCMP_SYS(timer_create), SCMP_SYS(timer_settime),
		SCMP_SYS(timer_delete), SCMP_SYS(getcpu) };
	/* CPUID faulting for the vCPU thread itself (engine/bt/direct/direct.c says why). */
	allow_if(f, SCMP_SYS(arch_prctl), SCMP_A0(SCMP_CMP_EQ, 0x1012 /* ARCH_SET_CPUID */));
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		allow(f, calls[i]);
}

static void add_kvm(struct filter *f)
{
	allow_if(f, SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, KVMIO << 8));
	allow(f, SCMP_SYS(rt_sigtimedwait));	/* a vCPU drains kicks that came after KVM_RUN */
}

static bool filter_init(struct filter *f)
{
	f->ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	f->err = 0;
	if (!f->ctx)
		vmon_log("sandbox: cannot create the seccomp filter");
	return f->ctx != NULL;
}

/* Installs f on every thread of the process (later ones inherit it) and frees it. */
static int filter_load(struct filter *f)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	add_sanitizer(f);
#endif
	if (!f->err)
		f->err = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!f->err)
		f->err = seccomp_load(f->ctx);
	seccomp_release(f->ctx);
	if (f->err) {
		vmon_log("sandbox: cannot install the seccomp filter: %s "
			"(--sandbox off runs without it)", strerror(-f->err));
		return -1;
	}
	active = true;
	return 0;
}

/* Landlock (Linux 5.13+): no file-system access but reading /etc/resolv.conf (libslirp's DNS
 * forwarder reads it whenever the guest asks 10.0.2.3), which the seccomp filter, blind to
 * paths, cannot say. The rule holds the file as opened now: a resolv.conf replaced later is
 * not seen. Without Landlock in the kernel the seccomp filter alone stays. */
static int restrict_files(void)
{
	struct landlock_ruleset_attr attr = {
		.handled_access_fs = LANDLOCK_FS_V1,
	};
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
			       LANDLOCK_CREATE_RULESET_VERSION);

	if (abi < 1)
		return 0;
	int rules = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rules < 0)
		return -1;
	static const struct { const char *path; uint64_t access; } readable[] = {
		{ "/etc/resolv.conf", LANDLOCK_ACCESS_FS_READ_FILE },
#ifdef __SANITIZE_ADDRESS__
		/* The test build's reports read /proc/self/maps and the binary's symbols. */
		{ "/proc", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR },
		{ "/proc/self/exe", LANDLOCK_ACCESS_FS_READ_FILE },
#endif
	};
	for (size_t i = 0; i < sizeof(readable) / sizeof(readable[0]); i++) {
		struct landlock_path_beneath_attr beneath = {
			.allowed_access = readable[i].access,
			.parent_fd = open(readable[i].path, O_PATH | O_CLOEXEC),
		};
		/* No such file: nothing to allow. */
		if (beneath.parent_fd < 0)
			continue;
		long e = syscall(SYS_landlock_add_rule, rules, LANDLOCK_RULE_PATH_BENEATH, &beneath,
				 0);
		close(beneath.parent_fd);
		if (e < 0) {
			close(rules);
			return -1;
		}
	}
	int e = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -1 :
		(int)syscall(SYS_landlock_restrict_self, rules, 0);
	close(rules);
	return e < 0 ? -1 : 0;
}

int sandbox_enter_net_helper(void)
{
	struct filter f;

	if (restrict_files() < 0) {
		vmon_log("sandbox: cannot restrict the slirp helper's files: %s",
			strerror(errno));
		return -1;
	}
	if (!filter_init(&f))
		return -1;
	add_base(&f);
	add_net(&f);
	return filter_load(&f);
}

int sandbox_enter(const struct sandbox_policy *p)
{
	struct filter f;

	if (!filter_init(&f))
		return -1;
	/* glibc reads /etc/localtime on the first time conversion (the RTC's timegm): now. */
	tzset();
	add_base(&f);
	if (p->api)
		add_api(&f);
	if (p->kvm)
		add_kvm(&f);
	if (nr_tracees)
		add_tracees(&f);
	return filter_load(&f);
}

bool sandbox_active(void)
{
	return active;
}
