/* Split virtqueue (virtio 1.x, 2.7): descriptor table, available ring, used ring in guest RAM.
 *
 * Everything the guest wrote is checked before use: ring addresses and alignment when the queue is
 * enabled, the available index against the queue size, every head and next index, every buffer
 * against guest RAM, chains for loops (no more descriptors than the queue has), total length
 * for overflow, device-writable buffers after the readable ones. A broken ring is reported as
 * VIRTQ_BROKEN: the transport marks the device DEVICE_NEEDS_RESET and stops using the queue.
 * Indirect descriptors and event indices are not offered, so their use is a broken ring too.
 */
#ifndef VMON_VIRTIO_QUEUE_H
#define VMON_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;
struct state_out;
struct state_in;

#define VIRTQ_MAX_SIZE		256
#define VIRTQ_NO_VECTOR		0xffff

struct virtq {
	uint16_t size;			/* power of two, <= VIRTQ_MAX_SIZE */
	bool ready;
	uint16_t msix_vector;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Set by virtq_enable() from the addresses above, which it checked. */
	uint8_t *desc, *avail, *used;
	uint16_t last_avail;		/* next available entry the device takes */
	uint16_t used_idx;		/* what the device has published */
};

/* One descriptor chain: nr_out device-readable buffers, then nr_in device-writable ones. */
struct virtq_req {
	uint16_t head;
	int nr_out, nr_in;
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SIZE];	/* host addresses inside guest RAM */
	uint64_t gpa[VIRTQ_MAX_SIZE];
};

enum { VIRTQ_BROKEN = -1, VIRTQ_EMPTY = 0, VIRTQ_GOT = 1 };

/* Queue reset state: size max_size, no vector, not ready. */
void virtq_reset(struct virtq *q, uint16_t max_size);
/* Checks the rings' placement and marks the queue ready; false (and not ready) if they do not
 * lie in guest RAM with their alignment. */
bool virtq_enable(struct virtq *q, const struct vm *vm);

/* Saved state: configuration and ring positions. Nothing else is in flight: a chain is popped
 * and pushed within one notification (or one received frame) under the device's lock, so a
 * paused VM has none open. last_avail runs ahead of used_idx only for a chain given up on a
 * broken ring, which stays unanswered until the driver resets the device, restored or not.
 * The load refuses a size that is not a power of two <= VIRTQ_MAX_SIZE, an enabled queue whose
 * rings are not in RAM with their alignment, and more chains taken than the queue holds; it
 * leaves the vector to the transport. */
void virtq_save(const struct virtq *q, struct state_out *o);
bool virtq_load(struct virtq *q, const struct vm *vm, struct state_in *in);

/* The next available chain: VIRTQ_GOT with *r filled, VIRTQ_EMPTY, or VIRTQ_BROKEN. */
int virtq_pop(struct virtq *q, const struct vm *vm, struct virtq_req *r);
/* Copies up to len bytes of the readable buffers from byte off; returns how many were copied. */
size_t virtq_req_read(const struct virtq_req *r, uint64_t off, void *dst, size_t len);
/* Copies into the writable buffers at byte off (reported through vm_ram_written); returns how
 * many bytes fitted. */
size_t virtq_req_write(struct vm *vm, const struct virtq_req *r, uint64_t off, const void *src,
		       size_t len);
/* Reports that the device wrote the writable buffers' first len bytes by other means (preadv). */
void virtq_req_written(struct vm *vm, const struct virtq_req *r, uint64_t len);
/* Completes the chain with len bytes written. Returns whether the driver wants an interrupt. */
bool virtq_push(struct virtq *q, struct vm *vm, uint16_t head, uint32_t len);

#endif
