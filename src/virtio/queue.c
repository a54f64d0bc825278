/* Split virtqueue: the device side, bounds-checked (see queue.h). */
#include <stdatomic.h>
#include <string.h>

#include "util/bytes.h"
#include "snapshot/state.h"
#include "virtio/queue.h"
#include "vm.h"

#define DESC_SIZE		16
#define DESC_F_NEXT		1
#define DESC_F_WRITE		2
#define DESC_F_INDIRECT		4
#define AVAIL_F_NO_INTERRUPT	1
/* A chain carries at most 4 GiB: more is a guest bug (and would overflow a used length). */
#define CHAIN_MAX_BYTES		(1ull << 32)

void virtq_reset(struct virtq *q, uint16_t max_size)
{
	*q = (struct virtq){ .size = max_size, .msix_vector = VIRTQ_NO_VECTOR };
}

static uint8_t *ring(const struct vm *vm, uint64_t gpa, uint64_t len, uint64_t align)
{
	return gpa & (align - 1) ? NULL : gpa_to_hva(&vm->mem, gpa, len);
}

static bool size_ok(uint64_t n)
{
	return n && n <= VIRTQ_MAX_SIZE && !(n & (n - 1));
}

/* The rings' host addresses; false if the size or a ring's placement is wrong. */
static bool map_rings(struct virtq *q, const struct vm *vm)
{
	uint64_t n = q->size;

	if (!size_ok(n))
		return false;
	q->desc = ring(vm, q->desc_gpa, DESC_SIZE * n, 16);
	q->avail = ring(vm, q->avail_gpa, 6 + 2 * n, 2);
	q->used = ring(vm, q->used_gpa, 6 + 8 * n, 4);
	return q->desc && q->avail && q->used;
}

bool virtq_enable(struct virtq *q, const struct vm *vm)
{
	q->ready = false;
	if (!map_rings(q, vm))
		return false;
	q->last_avail = 0;
	q->used_idx = 0;
	q->ready = true;
	return true;
}

void virtq_save(const struct virtq *q, struct state_out *o)
{
	state_put_u16(o, q->size);
	state_put_bool(o, q->ready);
	state_put_u16(o, q->msix_vector);
	state_put_u64(o, q->desc_gpa);
	state_put_u64(o, q->avail_gpa);
	state_put_u64(o, q->used_gpa);
	state_put_u16(o, q->last_avail);
	state_put_u16(o, q->used_idx);
}

bool virtq_load(struct virtq *q, const struct vm *vm, struct state_in *in)
{
	*q = (struct virtq){ .msix_vector = VIRTQ_NO_VECTOR };
	q->size = state_get_u16(in);
	bool ready = state_get_bool(in);
	q->msix_vector = state_get_u16(in);
	q->desc_gpa = state_get_u64(in);
	q->avail_gpa = state_get_u64(in);
	q->used_gpa = state_get_u64(in);
	q->last_avail = state_get_u16(in);
	q->used_idx = state_get_u16(in);
	/* The addresses of a queue not enabled yet are whatever the driver wrote so far. */
	if (in->bad || !size_ok(q->size) || (ready && !map_rings(q, vm)) ||
	    (uint16_t)(q->last_avail - q->used_idx) > q->size)
		return false;
	q->ready = ready;
	return true;
}

int virtq_pop(struct virtq *q, const struct vm *vm, struct virtq_req *r)
{
	if (!q->ready)
		return VIRTQ_EMPTY;
	uint16_t avail_idx = get_le16(q->avail + 2);
	/* The ring entries below avail_idx are read only after the index. */
	atomic_thread_fence(memory_order_acquire);

	uint16_t waiting = (uint16_t)(avail_idx - q->last_avail);
	if (waiting == 0)
		return VIRTQ_EMPTY;
	if (waiting > q->size)
		return VIRTQ_BROKEN;

	uint16_t head = get_le16(q->avail + 4 + 2 * (q->last_avail & (q->size - 1)));
	uint16_t i = head;
	int n = 0;

	r->head = head;
	r->nr_out = r->nr_in = 0;
	r->out_len = r->in_len = 0;
	for (;;) {
		/* More links than descriptors means the chain loops. */
		if (i >= q->size || n >= q->size)
			return VIRTQ_BROKEN;
		const uint8_t *d = q->desc + DESC_SIZE * i;
		uint64_t addr = get_le64(d);
		uint32_t len = get_le32(d + 8);
		uint16_t flags = get_le16(d + 12);

		if (flags & DESC_F_INDIRECT)
			return VIRTQ_BROKEN;
		uint8_t *hva = gpa_to_hva(&vm->mem, addr, len);
		if (!hva)
			return VIRTQ_BROKEN;
		if (flags & DESC_F_WRITE) {
			r->nr_in++;
			r->in_len += len;
		} else {
			/* Readable buffers come first. */
			if (r->nr_in)
				return VIRTQ_BROKEN;
			r->nr_out++;
			r->out_len += len;
		}
		if (r->out_len + r->in_len > CHAIN_MAX_BYTES)
			return VIRTQ_BROKEN;
		r->iov[n] = (struct iovec){ .iov_base = hva, .iov_len = len };
		r->gpa[n] = addr;
		n++;
		if (!(flags & DESC_F_NEXT))
			break;
		i = get_le16(d + 14);
	}
	q->last_avail++;
	return VIRTQ_GOT;
}

size_t virtq_req_read(const struct virtq_req *r, uint64_t off, void *dst, size_t len)
{
	size_t done = 0;

	for (int k = 0; k < r->nr_out && done < len; k++) {
		size_t seg = r->iov[k].iov_len;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		size_t n = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)dst + done, (uint8_t *)r->iov[k].iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t virtq_req_write(struct vm *vm, const struct virtq_req *r, uint64_t off, const void *src,
		       size_t len)
{
	size_t done = 0;

	for (int k = r->nr_out; k < r->nr_out + r->nr_in && done < len; k++) {
		size_t seg = r->iov[k].iov_len;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		size_t n = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)r->iov[k].iov_base + off, (const uint8_t *)src + done, n);
		vm_ram_written(vm, r->gpa[k] + off, n);
		done += n;
		off = 0;
	}
	return done;
}

void virtq_req_written(struct vm *vm, const struct virtq_req *r, uint64_t len)
{
	for (int k = r->nr_out; k < r->nr_out + r->nr_in && len; k++) {
		uint64_t n = r->iov[k].iov_len < len ? r->iov[k].iov_len : len;
		vm_ram_written(vm, r->gpa[k], n);
		len -= n;
	}
}

bool virtq_push(struct virtq *q, struct vm *vm, uint16_t head, uint32_t len)
{
	uint64_t slot = 4 + 8 * (uint64_t)(q->used_idx & (q->size - 1));

	put_le32(q->used + slot, head);
	put_le32(q->used + slot + 4, len);
	/* The element is visible before the index that publishes it. */
	atomic_thread_fence(memory_order_release);
	q->used_idx++;
	put_le16(q->used + 2, q->used_idx);
	vm_ram_written(vm, q->used_gpa + slot, 8);
	vm_ram_written(vm, q->used_gpa + 2, 2);
	/* Publish the index before reading the driver's wish, or an interrupt could be lost. */
	atomic_thread_fence(memory_order_seq_cst);
	return !(get_le16(q->avail) & AVAIL_F_NO_INTERRUPT);
}
