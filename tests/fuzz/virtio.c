/* The virtio transport, the split virtqueue and descriptor-chain parser, virtio-blk's requests
 * and virtio-rng: a guest's moves on a VM with a disk (slot 1) and an RNG (slot 2), as a list of
 * operations (support/virtio_rig.h). Whatever the guest writes, every buffer the devices touch
 * lies in guest RAM (ASan watches the rest of the process).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "support/virtio_rig.h"
#include "virtio/devices.h"
#include "vm.h"

#define DISK_BYTES	(64 * 1024)

static struct vm_disk disk;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t zero[DISK_BYTES];
	int fd = fuzz_memfd("vmon-fuzz-disk", zero, sizeof(zero));

	if (fd < 0) {
		perror("fuzz virtio: disk");
		_exit(1);
	}
	snprintf(disk.path, sizeof(disk.path), "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rig r;
	struct rig_input in = { .p = data, .len = size };

	if (rig_up(&r) < 0)
		_exit(1);
	struct virtio_blk *blk = virtio_blk_create(r.vm, r.bus, &disk, 0);
	struct virtio_rng *rng = virtio_rng_create(r.vm, r.bus);
	if (!blk || !rng)
		_exit(1);
	while (rig_step(&r, &in) >= 0)
		;
	virtio_rng_destroy(rng);
	virtio_blk_destroy(blk);
	rig_down(&r);
	return 0;
}
