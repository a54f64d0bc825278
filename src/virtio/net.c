/* virtio-net (virtio 1.x, 5.1) on a user-mode network in another process (`--net user`, see
 * src/net/backend.h): the guest gets 10.0.2.15 by DHCP, 10.0.2.2 is the host (its loopback),
 * 10.0.2.3 the DNS forwarder.
 *
 * vmon parses none of the guest's frames: each transmit chain (after the 12-byte
 * virtio_net_hdr) goes, as opaque bytes, to the backend over a Unix stream socket with a
 * 4-byte length before it (src/net/frame_stream.h); frames from the backend go into the receive
 * queue's next chain. When the guest has posted none, the frame waits and nothing more is read
 * from the socket until the guest posts buffers (its notification of the receive queue): the
 * backend is held back instead of the frame being dropped, which would cost a TCP retransmit.
 *
 * Transmit runs on the notifying vCPU thread and never blocks: when the socket is full, the
 * rest of the frame waits in tx_buf, no further chain is taken (the guest's ring fills and it
 * waits), and this device's thread sends the rest once the socket has room and takes up the
 * queue again. The thread also reads the backend's frames. Everything that touches the queues
 * happens under the device's lock.
 *
 * If the backend dies (a bug in it that the guest found), the socket closes: the link goes
 * down (VIRTIO_NET_F_STATUS, with a configuration-change interrupt), one line says so, and the
 * VM runs on without network.
 *
 * Pause and snapshot: while the VM is paused the thread stops reading, so data for the guest
 * waits in the socket and the backend (TCP flow control holds the peers back). Frames read
 * while a pause is under way wait in the device until it runs again: no guest RAM is written
 * and no interrupt raised after the vCPUs parked, so the snapshot's RAM and device state agree
 * (a restore in another process loses them, as a full queue would: TCP retransmits). The
 * backend's state (connections, NAT, DHCP leases) is not saved: after a restore the guest's TCP
 * connections through it are gone, as with QEMU's user networking; its address stays valid
 * (the backend hands 10.0.2.15 to its client again) and new connections work.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/backend.h"
#include "net/frame_stream.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm.h"

#define NET_F_MAC		5
#define NET_F_STATUS		16
#define NET_CONFIG_STATUS	6	/* u16 after the MAC */
#define NET_S_LINK_UP		1
#define NET_HDR_BYTES		12	/* virtio_net_hdr with num_buffers (VERSION_1) */
#define NET_NUM_BUFFERS_OFF	10
#define RXQ			0
#define TXQ			1
#define PAUSED_NAP_MS		20

struct virtio_net {
	struct virtio_dev vd;
	int sock;			/* to the backend (non-blocking) */
	char backend[32];		/* its name, for messages */
	pthread_t thread;
	bool thread_started;
	int wake[2];			/* pipe: makes the thread look again (transmit blocked, stop) */
	atomic_bool stop;
	bool link_down;			/* the backend is gone (device lock) */
	bool rx_waits;			/* a frame waits for receive buffers (device lock) */
	bool rx_posted;			/* ... and the guest has posted some since (device lock) */
	struct virtq_req tx_req;
	struct virtq_req rx_req;
	/* The frame being sent: [tx_off, tx_end) not yet written to the socket (device lock). */
	size_t tx_off, tx_end;
	uint8_t tx_buf[FRAME_HDR + FRAME_MAX];
	struct frame_reader rx;		/* the thread's only */
};

static void wake_thread(struct virtio_net *n)
{
	char c = 0;

	/* A full pipe already has the thread awake. */
	if (write(n->wake[1], &c, 1) < 0 && errno != EAGAIN)
		return;
}

static void drain_wake(struct virtio_net *n)
{
	char drain[64];

	while (read(n->wake[0], drain, sizeof(drain)) > 0)
		;
}

/* The backend closed the socket or broke the stream (device lock held, VM not paused). */
static void link_down(struct virtio_net *n, const char *why)
{
	if (n->link_down)
		return;
	n->link_down = true;
	n->tx_off = n->tx_end = 0;
	fprintf(stderr, "vmon: virtio-net: the network backend (%s) %s: link down\n",
		n->backend, why);
	n->vd.config[NET_CONFIG_STATUS] = 0;
	virtio_config_changed(&n->vd);
}

/* ---- Transmit (device lock held, VM not paused) -------------------------------------------- */

/* Sends what is left of tx_buf; false while some of it still waits for room. */
static bool tx_flush(struct virtio_net *n)
{
	while (n->tx_off < n->tx_end) {
		ssize_t w = send(n->sock, n->tx_buf + n->tx_off, n->tx_end - n->tx_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (w <= 0) {
			link_down(n, "closed its socket");
			return true;
		}
		n->tx_off += (size_t)w;
	}
	n->tx_off = n->tx_end = 0;
	return true;
}

/* Frames from the transmit queue to the backend until it is empty or the socket is full (the
 * thread then carries on). Returns -1 if the driver broke the ring. */
static int tx_run(struct virtio_net *n)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq *q = &vd->vq[TXQ];
	bool irq = false;
	int got = VIRTQ_EMPTY;

	while (tx_flush(n) && (got = virtq_pop(q, vd->vm, &n->tx_req)) == VIRTQ_GOT) {
		/* The frame without its virtio_net_hdr, after the length prefix. */
		size_t len = virtq_req_read(&n->tx_req, NET_HDR_BYTES, n->tx_buf + FRAME_HDR,
					    FRAME_MAX);
		if (len && !n->link_down) {
			frame_put_header(n->tx_buf, len);
			n->tx_off = 0;
			n->tx_end = FRAME_HDR + len;
		}
		irq |= virtq_push(q, vd->vm, n->tx_req.head, 0);
	}
	if (irq)
		virtio_notify_queue(vd, TXQ);
	if (n->tx_off < n->tx_end)
		wake_thread(n);
	return got == VIRTQ_BROKEN ? -1 : 0;
}

static int net_notify(struct virtio_dev *vd, int qi)
{
	struct virtio_net *n = vd->model;

	if (qi == TXQ)
		return tx_run(n);
	/* New receive buffers: the thread delivers the frame that waits and reads on. */
	if (n->rx_waits) {
		n->rx_posted = true;
		wake_thread(n);
	}
	return 0;
}

static const struct virtio_dev_ops net_ops = { .notify = net_notify };

/* ---- Receive and the device's thread -------------------------------------------------------- */

/* A frame for the guest: into the next receive chain, after a zero header (device lock held,
 * VM not paused). False if the guest has posted no buffer: the frame must wait. */
static bool receive(struct virtio_net *n, const void *buf, size_t len)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq *q = &vd->vq[RXQ];
	uint8_t hdr[NET_HDR_BYTES] = { 0 };

	/* No driver (yet, or it broke the ring): dropped. */
	if (!(vd->status & VIRTIO_STATUS_DRIVER_OK) || (vd->status & VIRTIO_STATUS_NEEDS_RESET))
		return true;
	int got = virtq_pop(q, vd->vm, &n->rx_req);
	if (got == VIRTQ_BROKEN) {
		virtio_needs_reset(vd);
		return true;
	}
	if (got == VIRTQ_EMPTY)
		return false;
	if (n->rx_req.in_len < NET_HDR_BYTES + len) {
		/* A chain too small for it is returned empty, the frame dropped. */
		if (virtq_push(q, vd->vm, n->rx_req.head, 0))
			virtio_notify_queue(vd, RXQ);
		return true;
	}
	hdr[NET_NUM_BUFFERS_OFF] = 1;
	virtq_req_write(vd->vm, &n->rx_req, 0, hdr, sizeof(hdr));
	virtq_req_write(vd->vm, &n->rx_req, NET_HDR_BYTES, buf, len);
	if (virtq_push(q, vd->vm, n->rx_req.head, (uint32_t)(NET_HDR_BYTES + len)))
		virtio_notify_queue(vd, RXQ);
	return true;
}

/* What the socket's poll said, under the lock with the VM held unpaused (or dropped if it is
 * pausing: see the top of this file). */
static void serve(struct virtio_net *n, short revents)
{
	pthread_mutex_t *lock = &n->vd.pci.lock;
	const char *broken = NULL;
	ssize_t got = 0;

	size_t room;
	uint8_t *space = frame_reader_space(&n->rx, &room);
	/* No room: frames that came before a pause still wait to be delivered. */
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && room) {
		got = read(n->sock, space, room);
		if (got > 0)
			frame_reader_fill(&n->rx, (size_t)got);
		else if (got == 0 || (errno != EAGAIN && errno != EINTR))
			broken = "closed its socket";
	}
	pthread_mutex_lock(lock);
	if (vm_hold_unpaused(n->vd.vm)) {
		const uint8_t *frame;
		size_t len;
		int r;
		n->rx_waits = false;
		while ((r = frame_reader_next(&n->rx, &frame, &len)) == 1) {
			if (!n->link_down && !receive(n, frame, len)) {
				frame_reader_unget(&n->rx, len);
				n->rx_waits = true;
				break;
			}
		}
		if (r < 0)
			broken = "sent a malformed frame stream";
		if (broken)
			link_down(n, broken);
		else if ((revents & POLLOUT) && tx_run(n) < 0)
			virtio_needs_reset(&n->vd);
		vm_release_unpaused(n->vd.vm);
	}
	/* Else pausing: what was read waits in n->rx for the resume. */
	pthread_mutex_unlock(lock);
}

/* Paused: nothing is read until the VM runs again or the device stops. Nothing tells this
 * thread about a resume, hence the short naps. */
static void wait_while_paused(struct virtio_net *n)
{
	struct pollfd wake = { .fd = n->wake[0], .events = POLLIN };

	if (poll(&wake, 1, PAUSED_NAP_MS) > 0)
		drain_wake(n);
}

static void *net_thread(void *arg)
{
	struct virtio_net *n = arg;
	bool resumed = false;

	while (!atomic_load(&n->stop)) {
		if (atomic_load(&n->vd.vm->pause_requested)) {
			wait_while_paused(n);
			resumed = true;
			continue;
		}
		pthread_mutex_lock(&n->vd.pci.lock);
		bool down = n->link_down;
		bool tx_waits = n->tx_off < n->tx_end;
		bool rx_waits = n->rx_waits;
		bool retry = rx_waits && n->rx_posted;
		n->rx_posted = false;
		pthread_mutex_unlock(&n->vd.pci.lock);

		/* Frames read while a pause began, or a frame that now has buffers, go first. */
		if ((retry || resumed) && !down) {
			resumed = false;
			serve(n, 0);
			continue;
		}

		struct pollfd pfd[2] = {
			{ .fd = n->wake[0], .events = POLLIN },
			{ .fd = n->sock,
			  .events = (short)((rx_waits ? 0 : POLLIN) | (tx_waits ? POLLOUT : 0)) },
		};
		int r = poll(pfd, down ? 1 : 2, -1);
		if (r > 0 && (pfd[0].revents & POLLIN))
			drain_wake(n);
		if (r > 0 && !down && pfd[1].revents)
			serve(n, pfd[1].revents);
	}
	return NULL;
}

/* ---- The device ---------------------------------------------------------------------------- */

struct virtio_net *virtio_net_create(struct vm *vm, struct pci_bus *bus,
				     enum net_backend_kind backend)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct virtio_net *n = calloc(1, sizeof(*n));

	if (!n) {
		vmon_log("virtio-net: %s", strerror(ENOMEM));
		return NULL;
	}
	n->sock = n->wake[0] = n->wake[1] = -1;
	virtio_pci_init(&n->vd, vm, VIRTIO_ID_NET, 0x020000, 2,
			1ull << NET_F_MAC | 1ull << NET_F_STATUS, &net_ops, n);
	memcpy(n->vd.config, mac, sizeof(mac));
	n->vd.config[NET_CONFIG_STATUS] = NET_S_LINK_UP;
	n->vd.config_len = 8;

	if (pipe2(n->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		vmon_log("virtio-net: %s", strerror(errno));
		virtio_net_destroy(n);
		return NULL;
	}
	n->sock = net_backend_start(backend, n->backend, sizeof(n->backend));
	if (n->sock < 0) {
		virtio_net_destroy(n);
		return NULL;
	}
	if (virtio_pci_plug(&n->vd, bus, "virtio-net") < 0) {
		vmon_log("virtio-net: no free PCI slot");
		virtio_net_destroy(n);
		return NULL;
	}
	int err = pthread_create(&n->thread, NULL, net_thread, n);
	if (err) {
		vmon_log("virtio-net: %s", strerror(err));
		virtio_net_destroy(n);
		return NULL;
	}
	n->thread_started = true;
	return n;
}

void virtio_net_stop(struct virtio_net *n)
{
	if (!n || !n->thread_started)
		return;
	atomic_store(&n->stop, true);
	wake_thread(n);
	pthread_join(n->thread, NULL);
	n->thread_started = false;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_net_stop(n);
	/* Closing the socket ends the backend (it sees EOF). */
	if (n->sock >= 0)
		close(n->sock);
	for (int i = 0; i < 2; i++)
		if (n->wake[i] >= 0)
			close(n->wake[i]);
	virtio_pci_destroy(&n->vd);
	free(n);
}
