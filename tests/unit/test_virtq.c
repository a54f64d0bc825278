/* Split virtqueue parsing against guest RAM that the test writes as a hostile driver would. */
#include <string.h>

#include "util/bytes.h"
#include "boot_fixture.h"
#include "test.h"
#include "virtio/queue.h"
#include "vm.h"

#define QSIZE	8
#define DESC	0x1000ull
#define AVAIL	0x2000ull
#define USED	0x3000ull
#define BUF	0x10000ull
#define F_NEXT	1
#define F_WRITE	2
#define F_INDIRECT 4

static struct virtq_req req;	/* 6 KiB: not on the stack */

static void desc(struct vm *vm, int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = gpa_to_hva(&vm->mem, DESC + 16 * (unsigned)i, 16);

	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
}

/* Makes head the next available chain. */
static void offer(struct vm *vm, uint16_t head)
{
	uint8_t *a = gpa_to_hva(&vm->mem, AVAIL, 4 + 2 * QSIZE);
	uint16_t idx = get_le16(a + 2);

	put_le16(a + 4 + 2 * (idx % QSIZE), head);
	put_le16(a + 2, (uint16_t)(idx + 1));
}

static bool setup(struct vm **vm, struct virtq *q)
{
	*vm = boot_test_vm(1 << 20, 1);
	if (!*vm)
		return false;
	virtq_reset(q, VIRTQ_MAX_SIZE);
	q->size = QSIZE;
	q->desc_gpa = DESC;
	q->avail_gpa = AVAIL;
	q->used_gpa = USED;
	return virtq_enable(q, *vm);
}

TEST(virtq_good_chain_and_used_ring)
{
	struct vm *vm;
	struct virtq q;

	CHECK(setup(&vm, &q));
	if (!q.ready)
		return;
	CHECK_EQ(virtq_pop(&q, vm, &req), VIRTQ_EMPTY);

	memcpy(gpa_to_hva(&vm->mem, BUF, 4), "abcd", 4);
	desc(vm, 3, BUF, 4, F_NEXT, 5);
	desc(vm, 5, BUF + 0x100, 2, F_NEXT, 6);
	desc(vm, 6, BUF + 0x200, 64, F_WRITE, 0);
	offer(vm, 3);
	CHECK_EQ(virtq_pop(&q, vm, &req), VIRTQ_GOT);
	CHECK_EQ(req.head, 3);
	CHECK_EQ(req.nr_out, 2);
	CHECK_EQ(req.nr_in, 1);
	CHECK_EQ(req.out_len, 6);
	CHECK_EQ(req.in_len, 64);

	char got[8] = "";
	CHECK_EQ(virtq_req_read(&req, 2, got, sizeof(got)), 4);
	CHECK(!memcmp(got, "cd", 2));
	CHECK_EQ(virtq_req_write(vm, &req, 60, "wxyz!", 5), 4);	/* cut at the buffer's end */
	CHECK(!memcmp(gpa_to_hva(&vm->mem, BUF + 0x200 + 60, 4), "wxyz", 4));

	/* The driver asked for no interrupt: push says so. */
	put_le16(gpa_to_hva(&vm->mem, AVAIL, 2), 1);
	CHECK(!virtq_push(&q, vm, req.head, 64));
	const uint8_t *u = gpa_to_hva(&vm->mem, USED, 12);
	CHECK_EQ(get_le16(u + 2), 1);
	CHECK_EQ(get_le32(u + 4), 3);
	CHECK_EQ(get_le32(u + 8), 64);
	put_le16(gpa_to_hva(&vm->mem, AVAIL, 2), 0);
	CHECK_EQ(virtq_pop(&q, vm, &req), VIRTQ_EMPTY);

	/* A chain of every descriptor in the table is still fine. */
	for (int i = 0; i < QSIZE; i++)
		desc(vm, i, BUF, 1, i + 1 < QSIZE ? F_NEXT : 0, (uint16_t)(i + 1));
	offer(vm, 0);
	CHECK_EQ(virtq_pop(&q, vm, &req), VIRTQ_GOT);
	CHECK_EQ(req.nr_out, QSIZE);
	CHECK(virtq_push(&q, vm, req.head, 0));
	boot_test_vm_free(vm);
}

/* Pops once after the test arranged the descriptors: must be VIRTQ_BROKEN. */
static int pop_fresh(struct vm *vm, struct virtq *q, uint16_t head)
{
	offer(vm, head);
	return virtq_pop(q, vm, &req);
}

TEST(virtq_hostile_chains)
{
	struct vm *vm;
	struct virtq q;

	CHECK(setup(&vm, &q));
	if (!q.ready)
		return;
	/* A loop: 0 -> 1 -> 0. */
	desc(vm, 0, BUF, 16, F_NEXT, 1);
	desc(vm, 1, BUF, 16, F_NEXT, 0);
	CHECK_EQ(pop_fresh(vm, &q, 0), VIRTQ_BROKEN);
	boot_test_vm_free(vm);

	/* A longer loop through the whole table: 0 -> 1 -> ... -> 7 -> 3. */
	CHECK(setup(&vm, &q));
	if (!q.ready)
		return;
	for (int i = 0; i < QSIZE; i++)
		desc(vm, i, BUF, 16, F_NEXT, (uint16_t)(i + 1 < QSIZE ? i + 1 : 3));
	CHECK_EQ(pop_fresh(vm, &q, 0), VIRTQ_BROKEN);
	boot_test_vm_free(vm);
}

TEST(virtq_hostile_addresses_and_indices)
{
	static const struct { uint64_t addr; uint32_t len; uint16_t flags, next; } bad[] = {
		{ 0xff000, 0x2000, 0, 0 },			/* runs past the end of RAM */
		{ 0xfee00000, 16, 0, 0 },			/* outside RAM */
		{ 0xfffffffffffff000ull, 0x2000, 0, 0 },	/* address + length overflows */
		{ BUF, 16, F_NEXT, QSIZE },			/* next beyond the table */
		{ BUF, 16, F_INDIRECT, 0 },			/* indirect: not negotiated */
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct vm *vm;
		struct virtq q;

		CHECK(setup(&vm, &q));
		if (!q.ready)
			return;
		desc(vm, 2, bad[k].addr, bad[k].len, bad[k].flags, bad[k].next);
		if (pop_fresh(vm, &q, 2) != VIRTQ_BROKEN) {
			fprintf(stderr, "  case %zu\n", k);
			CHECK(0);
		}
		boot_test_vm_free(vm);
	}

	struct vm *vm;
	struct virtq q;
	CHECK(setup(&vm, &q));
	if (!q.ready)
		return;
	/* Head out of range. */
	CHECK_EQ(pop_fresh(vm, &q, QSIZE + 3), VIRTQ_BROKEN);
	/* Readable after writable. */
	q.last_avail = 0;
	desc(vm, 0, BUF, 16, F_WRITE | F_NEXT, 1);
	desc(vm, 1, BUF, 16, 0, 0);
	put_le16(gpa_to_hva(&vm->mem, AVAIL + 2, 2), 0);
	CHECK_EQ(pop_fresh(vm, &q, 0), VIRTQ_BROKEN);
	/* An available index more than a ring ahead. */
	q.last_avail = 0;
	put_le16(gpa_to_hva(&vm->mem, AVAIL + 2, 2), QSIZE + 1);
	CHECK_EQ(virtq_pop(&q, vm, &req), VIRTQ_BROKEN);
	boot_test_vm_free(vm);
}

TEST(virtq_enable_checks_rings)
{
	struct vm *vm = boot_test_vm(1 << 20, 1);
	struct virtq q;

	CHECK(vm != NULL);
	if (!vm)
		return;
	virtq_reset(&q, VIRTQ_MAX_SIZE);
	CHECK_EQ(q.msix_vector, VIRTQ_NO_VECTOR);
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	CHECK(virtq_enable(&q, vm));
	q.size = 12;					/* not a power of two */
	CHECK(!virtq_enable(&q, vm));
	q.size = QSIZE;
	q.desc_gpa = DESC + 8;				/* misaligned */
	CHECK(!virtq_enable(&q, vm));
	q.desc_gpa = DESC;
	q.used_gpa = (1 << 20) - 16;			/* runs out of RAM */
	CHECK(!virtq_enable(&q, vm));
	CHECK(!q.ready);
	CHECK_EQ(virtq_pop(&q, vm, &req), VIRTQ_EMPTY);
	boot_test_vm_free(vm);
}
