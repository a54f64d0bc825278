/* `vmon net-slirp-helper`: libslirp's user-mode network for one guest, in its own process
 * (backend.h). vmon forks and execs it with the socket on NET_HELPER_FD; it reads the guest's
 * frames from there into slirp_input() and writes slirp's frames for the guest back, until vmon
 * closes the socket. It gives the guest 10.0.2.15 by DHCP; 10.0.2.2 is the host (its
 * loopback), 10.0.2.3 the DNS forwarder.
 *
 * Slirp parses every guest frame (issue: one IPv4 fragment corrupted memory inside it), so the
 * helper runs under its own seccomp policy (sandbox_enter_net_helper): sockets for the guest's
 * connections, reading /etc/resolv.conf, nothing else. A raw socket (slirp's fallback for a
 * guest's ping when unprivileged ICMP sockets are not allowed) fails with EPERM instead of
 * killing it. If it dies all the same, vmon sees the socket close, the guest's link goes down
 * and the VM runs on.
 *
 * Writes to vmon block: while the VM is paused vmon stops reading, so slirp stops too and data
 * for the guest waits in the host's socket buffers (TCP flow control holds the peers back).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "net/backend.h"
#include "net/frame_stream.h"
#include "sandbox.h"

#define POLL_MAX	256

struct helper {
	Slirp *slirp;
	struct pollfd pfd[POLL_MAX];
	int npfd;
	struct {			/* slirp's only timer (IPv6 RA, unused with IPv4 only) */
		SlirpTimerId id;
		void *cb_opaque;
		int64_t expire_ms;	/* -1: disarmed */
		bool used;
	} timer;
	struct frame_reader in;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Slirp callbacks ------------------------------------------------------------------------ */

/* A frame for the guest: to vmon, whole (a write error means vmon is gone). */
static ssize_t send_packet(const void *buf, size_t len, void *opaque)
{
	uint8_t hdr[FRAME_HDR];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)buf, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	if (len == 0 || len > FRAME_MAX)
		return (ssize_t)len;
	frame_put_header(hdr, len);
	while (msg.msg_iovlen) {
		ssize_t n = sendmsg(NET_HELPER_FD, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			exit(0);
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque)
{
}

static int64_t clock_get_ns(void *opaque)
{
	return now_ns();
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct helper *h = opaque;

	if (h->timer.used)
		return NULL;
	h->timer.used = true;
	h->timer.id = id;
	h->timer.cb_opaque = cb_opaque;
	h->timer.expire_ms = -1;
	return &h->timer;
}

static void timer_free(void *timer, void *opaque)
{
	((struct helper *)opaque)->timer.used = false;
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	if (timer)
		((struct helper *)opaque)->timer.expire_ms = expire_ms;
}

static void register_poll_fd(int fd, void *opaque)
{
}

static void unregister_poll_fd(int fd, void *opaque)
{
}

/* Single-threaded: the loop looks at slirp's sockets again on its next turn anyway. */
static void notify(void *opaque)
{
}

static const SlirpCb slirp_callbacks = {
	.send_packet = send_packet,
	.guest_error = guest_error,
	.clock_get_ns = clock_get_ns,
	.timer_free = timer_free,
	.timer_mod = timer_mod,
	.register_poll_fd = register_poll_fd,
	.unregister_poll_fd = unregister_poll_fd,
	.notify = notify,
	.timer_new_opaque = timer_new_opaque,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct helper *h = opaque;

	if (h->npfd >= POLL_MAX)
		return -1;
	short ev = (short)((events & SLIRP_POLL_IN ? POLLIN : 0) |
			   (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
			   (events & SLIRP_POLL_PRI ? POLLPRI : 0));
	h->pfd[h->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return h->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct helper *h = opaque;

	if (idx < 0 || idx >= h->npfd)
		return 0;
	short r = h->pfd[idx].revents;
	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

/* The guest's frames that vmon sent: into slirp. False once vmon closed the socket (or sent
 * something that is not a frame stream). */
static bool from_vmon(struct helper *h)
{
	size_t room;
	uint8_t *space = frame_reader_space(&h->in, &room);
	ssize_t n = read(NET_HELPER_FD, space, room);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	frame_reader_fill(&h->in, (size_t)n);

	const uint8_t *frame;
	size_t len;
	int got;
	while ((got = frame_reader_next(&h->in, &frame, &len)) == 1)
		slirp_input(h->slirp, frame, (int)len);
	return got == 0;
}

static void serve(struct helper *h)
{
	for (;;) {
		uint32_t timeout = 1000;

		h->npfd = 0;
		add_poll(NET_HELPER_FD, SLIRP_POLL_IN, h);
		slirp_pollfds_fill(h->slirp, &timeout, add_poll, h);
		if (h->timer.used && h->timer.expire_ms >= 0) {
			int64_t left = h->timer.expire_ms - now_ns() / 1000000;
			if (left < (int64_t)timeout)
				timeout = left < 0 ? 0 : (uint32_t)left;
		}
		int r = poll(h->pfd, (nfds_t)h->npfd, (int)timeout);
		if (r > 0 && (h->pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && !from_vmon(h))
			return;
		slirp_pollfds_poll(h->slirp, r < 0, get_revents, h);
		if (h->timer.used && h->timer.expire_ms >= 0 &&
		    h->timer.expire_ms <= now_ns() / 1000000) {
			h->timer.expire_ms = -1;
			slirp_handle_timer(h->slirp, h->timer.id, h->timer.cb_opaque);
		}
	}
}

int net_slirp_helper_main(void)
{
	static struct helper h;
	SlirpConfig cfg = {
		.version = 4,
		.in_enabled = true,
		.vnetwork.s_addr = htonl(0x0a000200),		/* 10.0.2.0/24 */
		.vnetmask.s_addr = htonl(0xffffff00),
		.vhost.s_addr = htonl(0x0a000202),		/* 10.0.2.2 */
		.vdhcp_start.s_addr = htonl(0x0a00020f),	/* 10.0.2.15 */
		.vnameserver.s_addr = htonl(0x0a000203),	/* 10.0.2.3 */
		.vhostname = "vmon",
	};
	/* It writes no files: a compromised helper cannot fill a disk either. */
	const struct rlimit no_files = { 0, 0 };

	signal(SIGPIPE, SIG_IGN);
	if (fcntl(NET_HELPER_FD, F_SETFL, 0) < 0) {
		fprintf(stderr, "vmon: slirp helper: started without its socket\n");
		return 1;
	}
	h.slirp = slirp_new(&cfg, &slirp_callbacks, &h);
	if (!h.slirp) {
		fprintf(stderr, "vmon: slirp helper: cannot start the user-mode network\n");
		return 1;
	}
	setrlimit(RLIMIT_FSIZE, &no_files);
	if (sandbox_enter_net_helper() < 0)
		return 1;
	serve(&h);
	slirp_cleanup(h.slirp);
	return 0;
}
