/* The seccomp filter of src/sandbox.c, loaded in a forked child: what the policy allows works,
 * what it does not kills the child with SIGSYS. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "snapshot/format.h"
#include "test.h"

#define ENTER_FAILED	100	/* the child's exit status when sandbox_enter() failed */

static char tmp_path[64];	/* a file the children may try to create */
static int test_pipe[2];	/* made before the fork: a sandboxed vmon makes no pipes */

/* Runs fn in a child process after sandbox_enter(p), or sandbox_enter_net_helper() for p ==
 * NET_HELPER; returns its wait status. The child ends with _exit(fn()): no atexit handlers
 * (LeakSanitizer) run in it. */
static int in_sandbox(const struct sandbox_policy *p, int (*fn)(void))
{
	fflush(stdout);
	fflush(stderr);
	if (pipe(test_pipe) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		if ((p ? sandbox_enter(p) : sandbox_enter_net_helper()) < 0)
			_exit(ENTER_FAILED);
		_exit(fn());
	}
	int status = -1;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	close(test_pipe[0]);
	close(test_pipe[1]);
	return status;
}

static bool exited_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool killed_by_sigsys(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static int do_write(void)
{
	char c = 0;

	if (write(test_pipe[1], "x", 1) != 1 || read(test_pipe[0], &c, 1) != 1)
		return 1;
	return c == 'x' ? 0 : 1;
}

static void *thread_fn(void *arg)
{
	return arg;
}

static int do_thread(void)
{
	pthread_t t;
	void *ret = NULL;

	if (pthread_create(&t, NULL, thread_fn, &tmp_path) != 0 || pthread_join(t, &ret) != 0)
		return 1;
	return ret == &tmp_path ? 0 : 1;
}

static int do_malloc(void)
{
	/* Big enough for its own mmap. */
	char *p = malloc(8 << 20);

	if (!p)
		return 1;
	memset(p, 1, 8 << 20);
	free(p);
	return 0;
}

static int do_open_create(void)
{
	return open(tmp_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) >= 0 ? 0 : 1;
}

/* What the snapshot writer does. */
static int do_snapshot_file(void)
{
	struct snap_writer w;
	const char *why;

	if (snap_writer_open(&w, tmp_path, &why) < 0)
		return 1;
	snap_write_section(&w, "x", "snap", 4);
	return snap_writer_finish(&w) == 0 ? 0 : 1;
}

static int do_execve(void)
{
	char *argv[] = { "true", NULL };

	execve("/bin/true", argv, NULL);
	return 1;
}

static int do_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return 1;
}

static int do_socket_inet(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) >= 0 ? 0 : 1;
}

/* The slirp helper's raw socket (libslirp's ping fallback) fails instead of killing it. */
static int do_socket_raw_refused(void)
{
	return socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1) < 0 && errno == EPERM ? 0 : 1;
}

/* The slirp helper reads /etc/resolv.conf (its DNS forwarder) and no other file. */
static int do_read_resolv_conf(void)
{
	return open("/etc/resolv.conf", O_RDONLY) >= 0 || errno == ENOENT ? 0 : 1;
}

static int do_read_passwd_refused(void)
{
	return open("/etc/passwd", O_RDONLY) < 0 && errno == EACCES ? 0 : 1;
}

/* Ending a migration: shutdown() on its socket (here a pipe, which the kernel refuses). */
static int do_shutdown(void)
{
	return shutdown(test_pipe[1], SHUT_RDWR) < 0 && errno == ENOTSOCK ? 0 : 1;
}

static int do_socket_netlink(void)
{
	return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0) >= 0 ? 0 : 1;
}

static int do_socket_raw(void)
{
	socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1);
	return 1;	/* as root it would work: only the filter stops it */
}

static int do_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p != MAP_FAILED ? 0 : 1;
}

/* A KVM request (KVM_GET_API_VERSION) on a descriptor that is not /dev/kvm's: ENOTTY if the
 * filter lets it through. */
static int do_kvm_ioctl(void)
{
	return ioctl(test_pipe[0], 0xAE00) < 0 ? 0 : 1;
}

static int do_other_ioctl(void)
{
	char c = 'x';

	ioctl(test_pipe[0], TIOCSTI, &c);	/* pushing input into a terminal */
	return 1;
}

static int do_kill_parent(void)
{
	kill(getppid(), 0);
	return 1;
}

static const struct sandbox_policy bare = { 0 };
static const struct sandbox_policy api = { .api = true };
static const struct sandbox_policy kvm = { .kvm = true };
static const struct sandbox_policy all = { .api = true, .kvm = true };
#define NET_HELPER NULL

static void set_tmp_path(void)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/vmon-sandbox-test-%d", (int)getpid());
	unlink(tmp_path);
}

TEST(sandbox_allows_what_running_needs)
{
	CHECK(exited_ok(in_sandbox(&bare, do_write)));
	CHECK(exited_ok(in_sandbox(&all, do_write)));	/* overlapping rules combine */
	CHECK(exited_ok(in_sandbox(&bare, do_thread)));
	CHECK(exited_ok(in_sandbox(&bare, do_malloc)));
	CHECK(exited_ok(in_sandbox(NET_HELPER, do_write)));
	CHECK(exited_ok(in_sandbox(NET_HELPER, do_socket_inet)));
	CHECK(exited_ok(in_sandbox(NET_HELPER, do_socket_raw_refused)));
	CHECK(exited_ok(in_sandbox(NET_HELPER, do_read_resolv_conf)));
	/* Landlock (Linux 5.13+) holds the helper to that one file. */
	if (syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 1)
		CHECK(exited_ok(in_sandbox(NET_HELPER, do_read_passwd_refused)));
	CHECK(exited_ok(in_sandbox(&api, do_shutdown)));
	CHECK(exited_ok(in_sandbox(&kvm, do_kvm_ioctl)));

	set_tmp_path();
	CHECK(exited_ok(in_sandbox(&api, do_snapshot_file)));
	CHECK(access(tmp_path, F_OK) == 0);
	unlink(tmp_path);
}

TEST(sandbox_kills_what_it_does_not_allow)
{
	set_tmp_path();
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_execve)));
	CHECK(killed_by_sigsys(in_sandbox(&api, do_execve)));
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_fork)));
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_open_create)));
	CHECK(killed_by_sigsys(in_sandbox(&api, do_open_create)));	/* not the snapshot's flags */
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_snapshot_file)));	/* no --api-sock */
	CHECK(access(tmp_path, F_OK) != 0);
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_socket_inet)));
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_socket_raw)));
	/* vmon itself opens no sockets for the guest: its network runs in the helper. */
	CHECK(killed_by_sigsys(in_sandbox(&all, do_socket_raw)));
	CHECK(killed_by_sigsys(in_sandbox(NET_HELPER, do_socket_netlink)));
	CHECK(killed_by_sigsys(in_sandbox(NET_HELPER, do_execve)));
	CHECK(killed_by_sigsys(in_sandbox(NET_HELPER, do_fork)));
	CHECK(killed_by_sigsys(in_sandbox(NET_HELPER, do_open_create)));
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_mmap_exec)));
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_kvm_ioctl)));
	CHECK(killed_by_sigsys(in_sandbox(&kvm, do_other_ioctl)));
	CHECK(killed_by_sigsys(in_sandbox(&bare, do_kill_parent)));
}
