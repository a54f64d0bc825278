/* The guest-frame path of virtio-net: transmit chains from the guest up to the network backend,
 * and the backend's frames into the guest's receive chains. The backend process is replaced by
 * this file (it defines net_backend_start, and the harness links without src/net/backend.c): the
 * far end of a socketpair, a sink that checks what vmon sends is a well-formed frame stream of
 * whole frames, and a source that writes frames of the input's choosing.
 * Input: operations on a VM with virtio-net in slot 1 (support/virtio_rig.h), plus RX (a frame of
 * the given length and bytes from the backend).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "net/backend.h"
#include "net/frame_stream.h"
#include "support/virtio_rig.h"
#include "virtio/devices.h"
#include "vm.h"

#define OP_RX		RIG_OPS

static int backend_sock = -1;		/* the backend's end */
static struct frame_reader sink;

int net_backend_start(enum net_backend_kind kind, char *name, size_t len)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	backend_sock = sv[1];
	memset(&sink, 0, sizeof(sink));
	snprintf(name, len, "fuzz");
	return sv[0];
}

/* Everything vmon sent so far must parse as whole frames within FRAME_MAX. */
static void drain_sink(void)
{
	for (;;) {
		size_t room;
		uint8_t *space = frame_reader_space(&sink, &room);
		ssize_t got = room ? read(backend_sock, space, room) : 0;
		const uint8_t *frame;
		size_t len;
		int r;

		if (got > 0)
			frame_reader_fill(&sink, (size_t)got);
		while ((r = frame_reader_next(&sink, &frame, &len)) == 1)
			if (len == 0 || len > FRAME_MAX)
				__builtin_trap();
		if (r < 0)
			__builtin_trap();
		if (got <= 0)
			return;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[FRAME_HDR + FRAME_MAX + 1];
	struct rig r;
	struct rig_input in = { .p = data, .len = size };
	int op;

	if (rig_up(&r) < 0)
		_exit(1);
	struct virtio_net *net = virtio_net_create(r.vm, r.bus, NET_BACKEND_AUTO);
	if (!net || backend_sock < 0)
		_exit(1);
	while ((op = rig_step(&r, &in)) >= 0) {
		drain_sink();
		if (op != OP_RX)
			continue;
		/* Up to one byte more than a frame may hold: vmon must take the link down. */
		size_t len = (size_t)rig_take(&in, 3) % (FRAME_MAX + 2);
		frame_put_header(frame, len);
		for (size_t k = 0; k < len; k++)
			frame[FRAME_HDR + k] = (uint8_t)rig_take(&in, 1);
		/* The device's thread delivers it; a full socket drops it, as a busy network may. */
		if (write(backend_sock, frame, FRAME_HDR + len) < 0 && errno != EAGAIN)
			_exit(1);
	}
	virtio_net_stop(net);
	drain_sink();
	virtio_net_destroy(net);
	close(backend_sock);
	backend_sock = -1;
	rig_down(&r);
	return 0;
}
