/* The guest-frame path of virtio-net: transmit chains from the guest up to the network backend,
 * and the backend's frames into the guest's receive chains. The backend is replaced by this
 * file (it defines every libslirp function net.c calls, and the harness links without libslirp):
 * a sink that checks what it is handed is one whole frame in host memory, and a source that
 * delivers frames the input chooses.
 * Input: operations on a VM with virtio-net in slot 1 (support/virtio_rig.h), plus RX (a frame of
 * the given length and bytes from the backend).
 */
#include <slirp/libslirp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "support/virtio_rig.h"
#include "virtio/devices.h"
#include "vm.h"

#define OP_RX		RIG_OPS
#define FRAME_MAX	(65535 + 14)

struct backend {
	const SlirpCb *cb;
	void *opaque;
	uint64_t frames, bytes;
};

static struct backend backend;

Slirp *slirp_new(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque)
{
	backend = (struct backend){ .cb = callbacks, .opaque = opaque };
	return (Slirp *)&backend;
}

void slirp_cleanup(Slirp *slirp)
{
	backend.cb = NULL;
}

void slirp_input(Slirp *slirp, const uint8_t *pkt, int pkt_len)
{
	if (pkt_len <= 0 || pkt_len > FRAME_MAX)
		__builtin_trap();
	/* Every byte is readable (ASan checks the range). */
	uint8_t sum = 0;
	for (int i = 0; i < pkt_len; i++)
		sum ^= pkt[i];
	backend.frames++;
	backend.bytes += (uint64_t)pkt_len + sum % 2;
}

void slirp_pollfds_fill(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll, void *opaque)
{
}

void slirp_pollfds_poll(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
			void *opaque)
{
}

void slirp_handle_timer(Slirp *slirp, SlirpTimerId id, void *cb_opaque)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[FRAME_MAX];
	struct rig r;
	struct rig_input in = { .p = data, .len = size };
	int op;

	if (rig_up(&r) < 0)
		_exit(1);
	struct virtio_net *net = virtio_net_create(r.vm, r.bus);
	if (!net || !backend.cb)
		_exit(1);
	while ((op = rig_step(&r, &in)) >= 0) {
		if (op != OP_RX)
			continue;
		size_t len = (size_t)rig_take(&in, 3) % (sizeof(frame) + 1);
		for (size_t k = 0; k < len; k++)
			frame[k] = (uint8_t)rig_take(&in, 1);
		backend.cb->send_packet(frame, len, backend.opaque);
	}
	virtio_net_destroy(net);
	rig_down(&r);
	return 0;
}
