/* Starting the `--net user` backend (backend.h): passt, or vmon's own slirp helper. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/backend.h"

#define SOCKET_BUFFER	(4 << 20)

/* The helper's fd number as the text of an argument. */
#define STR_(x)		#x
#define STR(x)		STR_(x)

/* passt configured as slirp's network (vmon's documented one): the guest gets 10.0.2.15/24 by
 * DHCP, the gateway 10.0.2.2 is the host's loopback (passt maps the gateway address to the
 * host unless --no-map-gw), DNS queries to 10.0.2.3 go to the host's resolver. IPv4 only and
 * no ports forwarded in, as with slirp; MTU 1500: virtio-net offers no large receive buffers. */
static char *const passt_args[] = {
	"passt", "--foreground", "--quiet", "--fd", STR(NET_HELPER_FD), "--ipv4-only",
	"--address", "10.0.2.15", "--netmask", "24", "--gateway", "10.0.2.2",
	"--dns", "10.0.2.3", "--dns-forward", "10.0.2.3", "--mtu", "1500",
	"--tcp-ports", "none", "--udp-ports", "none", NULL,
};

/* The executable `name` on $PATH, into path; false if there is none. */
static bool find_program(const char *name, char *path, size_t len)
{
	const char *dirs = getenv("PATH");

	if (!dirs || !*dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	while (*dirs) {
		size_t n = strcspn(dirs, ":");
		if (n && snprintf(path, len, "%.*s/%s", (int)n, dirs, name) < (int)len &&
		    access(path, X_OK) == 0)
			return true;
		dirs += n + (dirs[n] == ':');
	}
	return false;
}

/* In the child: the socket becomes NET_HELPER_FD, every other descriptor but stderr closes
 * (guest RAM's memfd, disks, the API socket), stdin and stdout read and write nothing. */
static void child_fds(int sock, bool keep_stderr)
{
	int null = open("/dev/null", O_RDWR);

	if (null < 0 || dup2(sock, NET_HELPER_FD) < 0)
		_exit(127);
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(null, STDERR_FILENO);
	close_range(NET_HELPER_FD + 1, ~0u, 0);
}

int net_backend_start(enum net_backend_kind kind, char *name, size_t len)
{
	char passt[PATH_MAX];
	bool use_passt = kind != NET_BACKEND_SLIRP && find_program("passt", passt, sizeof(passt));

	if (kind == NET_BACKEND_PASST && !use_passt) {
		fprintf(stderr, "vmon: --net passt: passt is not installed (apt-get install passt)\n");
		return -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "vmon: virtio-net: socketpair: %s\n", strerror(errno));
		return -1;
	}
	/* passt drops a frame for the guest when the socket is full (TCP then retransmits after a
	 * timeout): a deep buffer absorbs the bursts while the guest catches up. As much as the
	 * host allows (SO_SNDBUFFORCE beyond net.core.wmem_max needs CAP_NET_ADMIN). */
	for (int i = 0; i < 2; i++) {
		int bytes = SOCKET_BUFFER;
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vmon: virtio-net: fork: %s\n", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* Its own session: the terminal's signals are vmon's to handle. The helper also
		 * dies with vmon (passt drops privileges, which clears this, and exits when the
		 * socket closes). */
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		child_fds(sv[1], !use_passt);
		if (use_passt) {
			execv(passt, passt_args);
		} else {
			char *const helper[] = { "vmon", NET_SLIRP_HELPER_CMD, NULL };
			execv("/proc/self/exe", helper);
		}
		_exit(127);
	}
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		fprintf(stderr, "vmon: virtio-net: %s\n", strerror(errno));
		close(sv[0]);
		return -1;
	}
	snprintf(name, len, "%s", use_passt ? "passt" : "slirp helper");
	return sv[0];
}
