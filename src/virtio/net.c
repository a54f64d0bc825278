/* virtio-net (virtio 1.x, 5.1) on libslirp's user-mode network stack (`--net user`): the guest
 * gets 10.0.2.15 by DHCP, 10.0.2.2 is the host (its loopback), 10.0.2.3 the DNS forwarder.
 *
 * Transmit runs on the notifying vCPU thread: each chain is one frame (after the 12-byte
 * virtio_net_hdr), handed to slirp_input(). Slirp's sockets are served by one thread of this
 * device (poll()); frames for the guest arrive through send_packet() and go into the receive
 * queue's next chain, or are dropped when the guest has posted none (TCP retransmits).
 * Slirp is not thread-safe: every call into it happens under the device's lock.
 *
 * Pause and snapshot: while the VM is paused the poll thread leaves slirp alone, so data for
 * the guest waits in the host's socket buffers (TCP flow control holds the peers back). A frame
 * slirp produces all the same while a pause is under way is dropped before it touches the
 * receive queue, as a full queue would (TCP retransmits, the guest retries DHCP and DNS): no
 * guest RAM is written and no interrupt raised after the vCPUs parked, so the snapshot's RAM
 * and device state agree. Slirp's own state (connections, NAT, DHCP leases) is not saved: after
 * a restore the guest's TCP connections through it are gone, as with QEMU's user networking;
 * its address stays valid (slirp hands 10.0.2.15 to the first client again) and new
 * connections work.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm.h"

#define NET_F_MAC		5
#define NET_HDR_BYTES		12	/* virtio_net_hdr with num_buffers (VERSION_1) */
#define NET_NUM_BUFFERS_OFF	10
#define FRAME_MAX		(65535 + 14)
#define RXQ			0
#define TXQ			1
#define POLL_MAX		256
#define PAUSED_NAP_MS		20

struct net_timer {
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;	/* -1: disarmed */
};

struct virtio_net {
	struct virtio_dev vd;
	Slirp *slirp;
	pthread_t thread;
	bool thread_started;
	int wake[2];			/* pipe: makes the poll thread look again (new sockets, stop) */
	atomic_bool stop;
	struct pollfd pfd[POLL_MAX];	/* poll thread only */
	int npfd;
	struct net_timer timer;		/* slirp's only timer (IPv6 RA, unused with IPv4 only) */
	bool timer_used;
	struct virtq_req tx_req;	/* slirp_input() may deliver frames while a TX chain is open */
	struct virtq_req rx_req;
	uint8_t frame[NET_HDR_BYTES + FRAME_MAX];
};

static struct virtio_net *net_of(void *opaque)
{
	return opaque;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Slirp callbacks (device lock held) ---------------------------------------------------- */

/* A frame for the guest: into the next receive chain, after a zero header. */
static void receive(struct virtio_net *n, const void *buf, size_t len)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq *q = &vd->vq[RXQ];
	uint8_t hdr[NET_HDR_BYTES] = { 0 };

	if (!(vd->status & VIRTIO_STATUS_DRIVER_OK) || (vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	int got = virtq_pop(q, vd->vm, &n->rx_req);
	if (got == VIRTQ_BROKEN) {
		virtio_needs_reset(vd);
		return;
	}
	if (got == VIRTQ_EMPTY || n->rx_req.in_len < NET_HDR_BYTES + len) {
		/* No room: dropped. A chain too small for it is returned empty. */
		if (got == VIRTQ_GOT && virtq_push(q, vd->vm, n->rx_req.head, 0))
			virtio_notify_queue(vd, RXQ);
		return;
	}
	hdr[NET_NUM_BUFFERS_OFF] = 1;
	virtq_req_write(vd->vm, &n->rx_req, 0, hdr, sizeof(hdr));
	virtq_req_write(vd->vm, &n->rx_req, NET_HDR_BYTES, buf, len);
	if (virtq_push(q, vd->vm, n->rx_req.head, (uint32_t)(NET_HDR_BYTES + len)))
		virtio_notify_queue(vd, RXQ);
}

static ssize_t send_packet(const void *buf, size_t len, void *opaque)
{
	struct virtio_net *n = net_of(opaque);

	/* Paused or pausing: dropped (see the top of this file). */
	if (vm_hold_unpaused(n->vd.vm)) {
		receive(n, buf, len);
		vm_release_unpaused(n->vd.vm);
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
	struct virtio_net *n = net_of(opaque);

	if (n->timer_used)
		return NULL;
	n->timer_used = true;
	n->timer = (struct net_timer){ .id = id, .cb_opaque = cb_opaque, .expire_ms = -1 };
	return &n->timer;
}

static void timer_free(void *timer, void *opaque)
{
	net_of(opaque)->timer_used = false;
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	if (timer)
		((struct net_timer *)timer)->expire_ms = expire_ms;
}

static void wake_poller(struct virtio_net *n)
{
	char c = 0;

	/* A full pipe already has the poller awake. */
	if (write(n->wake[1], &c, 1) < 0 && errno != EAGAIN)
		return;
}

static void register_poll_fd(int fd, void *opaque)
{
}

static void unregister_poll_fd(int fd, void *opaque)
{
}

static void notify(void *opaque)
{
	wake_poller(net_of(opaque));
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

/* ---- The poll thread ----------------------------------------------------------------------- */

static int add_poll(int fd, int events, void *opaque)
{
	struct virtio_net *n = net_of(opaque);

	if (n->npfd >= POLL_MAX)
		return -1;
	short ev = (short)((events & SLIRP_POLL_IN ? POLLIN : 0) |
			   (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
			   (events & SLIRP_POLL_PRI ? POLLPRI : 0));
	n->pfd[n->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return n->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct virtio_net *n = net_of(opaque);

	if (idx < 0 || idx >= n->npfd)
		return 0;
	short r = n->pfd[idx].revents;
	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

/* Paused: slirp is left alone (its sockets keep their data) until the VM runs again or the
 * device stops. Nothing tells this thread about a resume, hence the short naps. */
static void wait_while_paused(struct virtio_net *n)
{
	struct pollfd wake = { .fd = n->wake[0], .events = POLLIN };
	char drain[64];

	if (poll(&wake, 1, PAUSED_NAP_MS) > 0)
		while (read(n->wake[0], drain, sizeof(drain)) > 0)
			;
}

static void *poll_thread(void *arg)
{
	struct virtio_net *n = arg;
	pthread_mutex_t *lock = &n->vd.pci.lock;

	while (!atomic_load(&n->stop)) {
		uint32_t timeout = 1000;

		if (atomic_load(&n->vd.vm->pause_requested)) {
			wait_while_paused(n);
			continue;
		}

		pthread_mutex_lock(lock);
		n->npfd = 0;
		add_poll(n->wake[0], SLIRP_POLL_IN, n);
		slirp_pollfds_fill(n->slirp, &timeout, add_poll, n);
		if (n->timer_used && n->timer.expire_ms >= 0) {
			int64_t left = n->timer.expire_ms - now_ns() / 1000000;
			if (left < (int64_t)timeout)
				timeout = left < 0 ? 0 : (uint32_t)left;
		}
		pthread_mutex_unlock(lock);

		int r = poll(n->pfd, (nfds_t)n->npfd, (int)timeout);
		if (r > 0 && (n->pfd[0].revents & POLLIN)) {
			char drain[64];
			while (read(n->wake[0], drain, sizeof(drain)) > 0)
				;
		}

		pthread_mutex_lock(lock);
		slirp_pollfds_poll(n->slirp, r < 0, get_revents, n);
		if (n->timer_used && n->timer.expire_ms >= 0 &&
		    n->timer.expire_ms <= now_ns() / 1000000) {
			n->timer.expire_ms = -1;
			slirp_handle_timer(n->slirp, n->timer.id, n->timer.cb_opaque);
		}
		pthread_mutex_unlock(lock);
	}
	return NULL;
}

/* ---- The device ---------------------------------------------------------------------------- */

static int net_notify(struct virtio_dev *vd, int qi)
{
	struct virtio_net *n = vd->model;
	struct virtq *q = &vd->vq[qi];
	bool irq = false;
	int got;

	/* The receive queue's notification means new buffers: slirp keeps nothing to retry. */
	if (qi != TXQ)
		return 0;
	while ((got = virtq_pop(q, vd->vm, &n->tx_req)) == VIRTQ_GOT) {
		size_t len = virtq_req_read(&n->tx_req, 0, n->frame, sizeof(n->frame));
		if (len > NET_HDR_BYTES)
			slirp_input(n->slirp, n->frame + NET_HDR_BYTES, (int)(len - NET_HDR_BYTES));
		irq |= virtq_push(q, vd->vm, n->tx_req.head, 0);
	}
	if (irq)
		virtio_notify_queue(vd, qi);
	wake_poller(n);
	return got == VIRTQ_BROKEN ? -1 : 0;
}

static const struct virtio_dev_ops net_ops = { .notify = net_notify };

struct virtio_net *virtio_net_create(struct vm *vm, struct pci_bus *bus)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct virtio_net *n = calloc(1, sizeof(*n));

	if (!n) {
		vmon_log("virtio-net: %s", strerror(ENOMEM));
		return NULL;
	}
	n->wake[0] = n->wake[1] = -1;
	virtio_pci_init(&n->vd, vm, VIRTIO_ID_NET, 0x020000, 2, 1ull << NET_F_MAC, &net_ops, n);
	memcpy(n->vd.config, mac, sizeof(mac));
	n->vd.config_len = 8;

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
	if (pipe2(n->wake, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    !(n->slirp = slirp_new(&cfg, &slirp_callbacks, n))) {
		vmon_log("virtio-net: cannot start the user-mode network");
		virtio_net_destroy(n);
		return NULL;
	}
	if (virtio_pci_plug(&n->vd, bus, "virtio-net") < 0) {
		vmon_log("virtio-net: no free PCI slot");
		virtio_net_destroy(n);
		return NULL;
	}
	int err = pthread_create(&n->thread, NULL, poll_thread, n);
	if (err) {
		vmon_log("virtio-net: %s", strerror(err));
		virtio_net_destroy(n);
		return NULL;
	}
	n->thread_started = true;
	return n;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	if (n->thread_started) {
		atomic_store(&n->stop, true);
		wake_poller(n);
		pthread_join(n->thread, NULL);
	}
	if (n->slirp)
		slirp_cleanup(n->slirp);
	for (int i = 0; i < 2; i++)
		if (n->wake[i] >= 0)
			close(n->wake[i]);
	virtio_pci_destroy(&n->vd);
	free(n);
}
