/* Operand access for the handlers: registers with x86's partial-register rules, ModRM memory
 * operands, the stack, and atomic read-modify-write for LOCKed instructions.
 */
#include "engine/bt/cpu/ops.h"

uint64_t bt_reg_get(const struct bt_cpu *cpu, int reg, unsigned size, bool rex)
{
	return reg_get(cpu, reg, size, rex);
}

void bt_reg_set(struct bt_cpu *cpu, int reg, unsigned size, bool rex, uint64_t val)
{
	reg_set(cpu, reg, size, rex, val);
}

uint64_t bt_rm_get(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size)
{
	return rm_get(cpu, i, size);
}

void bt_rm_set(struct bt_cpu *cpu, const struct bt_insn *i, unsigned size, uint64_t val)
{
	rm_set(cpu, i, size, val);
}

/* The write happens before RSP changes, so a faulting push leaves RSP intact. */
void bt_push(struct bt_cpu *cpu, unsigned size, uint64_t val)
{
	unsigned ss = sp_size(cpu);
	uint64_t sp = (cpu->s.gpr[R_RSP] - size) & sz_mask(ss);

	bt_write(cpu, S_SS, sp, size, val);
	reg_set(cpu, R_RSP, ss, true, sp);
}

uint64_t bt_pop(struct bt_cpu *cpu, unsigned size)
{
	unsigned ss = sp_size(cpu);
	uint64_t sp = cpu->s.gpr[R_RSP] & sz_mask(ss);
	uint64_t v = bt_read(cpu, S_SS, sp, size);

	reg_set(cpu, R_RSP, ss, true, sp + size);
	return v;
}

/* Atomic RMW on host memory with a CAS loop; sizes the host can do natively and aligned. */
static bool cas_rmw(struct bt_cpu *cpu, void *p, unsigned size, bt_rmw_fn fn,
		    const struct bt_rmw_arg *arg,
		    struct bt_cc *cc, uint64_t *old_out)
{
	if ((uintptr_t)p & (size - 1))
		return false;
	switch (size) {
	case 1: {
		uint8_t old = __atomic_load_n((uint8_t *)p, __ATOMIC_RELAXED), nv;
		do
			nv = (uint8_t)fn(cpu, old, arg, cc);
		while (!__atomic_compare_exchange_n((uint8_t *)p, &old, nv, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
		*old_out = old;
		return true;
	}
	case 2: {
		uint16_t old = __atomic_load_n((uint16_t *)p, __ATOMIC_RELAXED), nv;
		do
			nv = (uint16_t)fn(cpu, old, arg, cc);
		while (!__atomic_compare_exchange_n((uint16_t *)p, &old, nv, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
		*old_out = old;
		return true;
	}
	case 4: {
		uint32_t old = __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED), nv;
		do
			nv = (uint32_t)fn(cpu, old, arg, cc);
		while (!__atomic_compare_exchange_n((uint32_t *)p, &old, nv, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
		*old_out = old;
		return true;
	}
	case 8: {
		uint64_t old = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED), nv;
		do
			nv = fn(cpu, old, arg, cc);
		while (!__atomic_compare_exchange_n((uint64_t *)p, &old, nv, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
		*old_out = old;
		return true;
	}
	}
	return false;
}

uint64_t bt_locked_rmw(struct bt_cpu *cpu, int seg, uint64_t off, unsigned size,
		       bt_rmw_fn fn, const struct bt_rmw_arg *arg, struct bt_cc *cc)
{
	void *p = bt_rmw_ptr(cpu, seg, off, size);
	uint64_t old;

	if (p && cas_rmw(cpu, p, size, fn, arg, cc, &old))
		return old;
	/* MMIO, split or misaligned: bt_rmw_ptr has already checked write access to every byte,
	 * so the accesses below cannot fault while the lock is held. */
	pthread_mutex_lock(&cpu->bvm->atomic_lock);
	old = bt_read(cpu, seg, off, size);
	bt_write(cpu, seg, off, size, fn(cpu, old, arg, cc));
	pthread_mutex_unlock(&cpu->bvm->atomic_lock);
	return old;
}
