/* A bt vCPU on a small guest RAM, without threads or interrupt controllers, for the tests of
 * the bt engine's system side (MMU, segmentation, exceptions). Guest-physical 0xd0000000 holds
 * a 2-page test MMIO device that records its last access.
 */
#ifndef VMON_TEST_BT_FIXTURE_H
#define VMON_TEST_BT_FIXTURE_H

#include <stdint.h>

#include "engine/bt/sys/btsys.h"
#include "vm.h"

#define BT_TEST_RAM	(8ull << 20)
#define BT_TEST_MMIO	0xd0000000ull

struct bt_test {
	struct vm vm;
	struct vcpu vcpu;
	struct bt_vm bvm;
	struct bt_vcpu *bv;
	struct bt_cpu *cpu;
	/* The MMIO device: last access and counts. */
	uint64_t mmio_off, mmio_val;
	unsigned mmio_size, mmio_reads, mmio_writes;
};

/* A vCPU in its RESET state (real mode); NULL if RAM cannot be created. */
struct bt_test *bt_test_new(void);
void bt_test_free(struct bt_test *t);

void bt_test_put(struct bt_test *t, uint64_t gpa, unsigned size, uint64_t val);
uint64_t bt_test_get(struct bt_test *t, uint64_t gpa, unsigned size);

/* Flat segments with the given CPL: 32-bit protected mode, or 64-bit mode (EFER.LME/LMA,
 * CR4.PAE, CR0.PG) with cr3. A GDT at 0x1000 holds: 0x08 code64 DPL0, 0x10 data DPL0,
 * 0x18 code32 DPL0, 0x20 data DPL3, 0x28 code64 DPL3, 0x30 code32 DPL3. */
void bt_test_prot32(struct bt_test *t, unsigned cpl);
void bt_test_long64(struct bt_test *t, unsigned cpl, uint64_t cr3);

/* Operations with fault capture: each returns the vector raised, or -1. */
int bt_test_read(struct bt_test *t, uint64_t lin, unsigned size, int tlb, uint64_t *val);
int bt_test_write(struct bt_test *t, uint64_t lin, unsigned size, uint64_t val, int tlb);
int bt_test_translate(struct bt_test *t, uint64_t lin, enum bt_access acc, int tlb);
int bt_test_linear(struct bt_test *t, int seg, uint64_t off, unsigned size, enum bt_access acc,
		   uint64_t *lin);
int bt_test_rmw_ptr(struct bt_test *t, int seg, uint64_t off, unsigned size, void **p);
int bt_test_load_seg(struct bt_test *t, int sreg, uint16_t sel);
int bt_test_deliver(struct bt_test *t, int vector, bool has_error, uint32_t error, int soft);
int bt_test_op(struct bt_test *t, bt_handler fn, const struct bt_insn *i);

#endif
