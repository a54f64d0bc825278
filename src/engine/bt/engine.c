/* The bt engine: vCPUs run in the software interpreter on their own threads.
 *
 * The run loop owns the fault landing pad (cpu->fault_jmp): a fault raised anywhere in the
 * interpreter or the system emulation lands here and is delivered through the guest's IDT,
 * escalating to #DF and then to shutdown (triple fault) as the SDM's Table 6-5 says.
 * Between interpreter slices the loop polls the timers, takes INIT/SIPI, injects interrupts when
 * RFLAGS.IF allows, and sleeps on a condition variable while the guest is halted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/bt/sys/btsys.h"
#include "engine/engine.h"
#include "hw/irqchip.h"
#include "util/log.h"
#include "vm.h"

/* Instructions per interpreter slice: bounds the latency of timers and stop requests. */
#define SLICE_INSNS	20000

static int bt_probe(char *why, size_t len)
{
	return 0;
}

/* Wake the vCPU: out of the interpreter (kick) and out of a HLT sleep. */
static void wake(struct bt_vcpu *bv)
{
	pthread_mutex_lock(&bv->lock);
	atomic_store(&bv->cpu.kick, true);
	pthread_cond_signal(&bv->wake);
	pthread_mutex_unlock(&bv->lock);
}

static void irqchip_kick(void *opaque, int id)
{
	struct bt_vm *bvm = opaque;

	if (id < 0 || id >= bvm->nr_cpus || !bvm->cpu[id])
		return;
	struct bt_vcpu *bv = bt_vcpu_of(bvm->cpu[id]);
	atomic_store(&bv->irq_hint, true);
	wake(bv);
}

void bt_pv_unhalt(struct bt_vm *bvm, uint64_t id)
{
	if (id >= (uint64_t)bvm->nr_cpus || !bvm->cpu[id])
		return;
	struct bt_vcpu *bv = bt_vcpu_of(bvm->cpu[id]);
	atomic_store(&bv->pv_unhalt, true);
	wake(bv);
}

void bt_irq_window_opened(struct bt_cpu *cpu)
{
	if (atomic_load_explicit(&bt_vcpu_of(cpu)->irq_hint, memory_order_relaxed))
		atomic_store(&cpu->kick, true);
}

uint64_t bt_ram_pages(const struct vm *vm)
{
	uint64_t top = 0;

	for (int k = 0; k < vm->mem.nr_regions; k++)
		if (vm->mem.region[k].gpa + vm->mem.region[k].size > top)
			top = vm->mem.region[k].gpa + vm->mem.region[k].size;
	return (top + BT_PAGE - 1) >> 12;
}

static int bt_vm_create(struct vm *vm)
{
	struct bt_vm *bvm = calloc(1, sizeof(*bvm));
	if (!bvm)
		return -1;

	bvm->vm = vm;
	bvm->nr_pages = bt_ram_pages(vm);
	bvm->page_gen = calloc(bvm->nr_pages ? bvm->nr_pages : 1, sizeof(*bvm->page_gen));
	bvm->nr_cpus = vm->cfg.cpus < 1 ? 1 : vm->cfg.cpus > VM_MAX_CPUS ? VM_MAX_CPUS : vm->cfg.cpus;
	atomic_init(&bvm->tlb_gen, 0);
	if (!bvm->page_gen || bt_shadow_vm_init(bvm) < 0) {
		free((void *)bvm->page_gen);
		free(bvm);
		return -1;
	}
	bvm->irqchip = irqchip_create(vm, bvm->nr_cpus, irqchip_kick, bvm);
	if (!bvm->irqchip) {
		bt_shadow_vm_free(bvm);
		free((void *)bvm->page_gen);
		free(bvm);
		return -1;
	}
	vm->engine_priv = bvm;
	return 0;
}

static void bt_vm_destroy(struct vm *vm)
{
	struct bt_vm *bvm = vm->engine_priv;

	if (!bvm)
		return;
	irqchip_destroy(bvm->irqchip);
	bt_shadow_vm_free(bvm);
	free((void *)bvm->page_gen);
	free(bvm);
	vm->engine_priv = NULL;
}

struct lapic *bt_lapic(struct bt_cpu *cpu)
{
	return cpu->bvm->irqchip ? irqchip_lapic(cpu->bvm->irqchip, cpu->vcpu->id) : NULL;
}

/* Architectural state after RESET/INIT; TLB and derived mode refreshed. */
static void reset_cpu(struct bt_cpu *cpu)
{
	cpu_state_reset(&cpu->s);
	cpu->s.gpr[R_RDX] = 0x306f2;	/* CPUID.1.EAX of vmon's CPU model */
	cpu->inhibit_irq = false;
	cpu->nmi_blocked = false;
	cpu->inhibit_db = false;
	cpu->dbg_hit = 0;
	bt_set_rflags(cpu, cpu->s.rflags);
	bt_update_mode(cpu);
	bt_dbg_update(cpu);
	bt_tlb_flush(cpu, true);
}

/* INIT leaves the MTRRs unchanged (SDM Vol. 3A table 10-1), and firmware programs every CPU's
 * alike before an OS starts: an AP gets the loader's (vm->boot_state) at creation. */
static void copy_mtrrs(struct cpu_state *to, const struct cpu_state *from)
{
	to->mtrr_def_type = from->mtrr_def_type;
	memcpy(to->mtrr_fixed, from->mtrr_fixed, sizeof(to->mtrr_fixed));
	memcpy(to->mtrr_var, from->mtrr_var, sizeof(to->mtrr_var));
}

/* Snapshot: what a bt vCPU holds beyond struct cpu_state (which get_state materialises: lazy
 * flags, TSC, interrupt shadow). Decoded blocks and TLBs are caches and start empty. */
static void bt_vcpu_save(void *opaque, struct state_out *o)
{
	struct bt_vcpu *bv = opaque;

	state_put_bool(o, bv->wait_sipi);
	state_put_bool(o, bv->cpu.nmi_blocked);
}

static int bt_vcpu_load(void *opaque, struct state_in *in)
{
	struct bt_vcpu *bv = opaque;

	bv->wait_sipi = state_get_bool(in);
	bv->cpu.nmi_blocked = state_get_bool(in);
	atomic_store(&bv->irq_hint, true);	/* look for pending interrupts first thing */
	return in->bad ? -1 : 0;
}

struct bt_vcpu *bt_vcpu_alloc(struct vcpu *v, struct bt_vm *bvm, bool jit)
{
	size_t size = (sizeof(struct bt_vcpu) + 63) & ~(size_t)63;
	struct bt_vcpu *bv = aligned_alloc(64, size);

	if (!bv)
		return NULL;
	host_populate(bv, size);	/* soft TLBs and shadow roots: hundreds of pages */
	memset(bv, 0, size);
	bv->cpu.vcpu = v;
	bv->cpu.vm = v->vm;
	bv->cpu.bvm = bvm;
	bt_tlb_init(&bv->cpu);
	if (bt_block_cache_init(&bv->cpu, jit) < 0) {
		free(bv);
		return NULL;
	}
	return bv;
}

static int bt_vcpu_create(struct vcpu *v)
{
	struct bt_vm *bvm = v->vm->engine_priv;

	if (v->id < 0 || v->id >= bvm->nr_cpus) {
		snprintf(v->error, sizeof(v->error), "vcpu id %d out of range", v->id);
		return -1;
	}
	struct bt_vcpu *bv = bt_vcpu_alloc(v, bvm, true);
	if (!bv)
		return -1;
	struct bt_cpu *cpu = &bv->cpu;
	char name[VM_STATE_NAME_LEN];
	snprintf(name, sizeof(name), "bt-cpu%u", (uint8_t)v->id);
	if (vm_register_state(v->vm, name, bt_vcpu_save, bt_vcpu_load, bv) < 0) {
		bt_block_cache_free(cpu);
		free(bv);
		return -1;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bv->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&bv->lock, NULL);
	reset_cpu(cpu);
	copy_mtrrs(&cpu->s, &v->vm->boot_state);
	/* All TSCs of a machine start together: an AP takes the BSP's TSC, so they stay in sync
	 * (Linux's clocksource watchdog compares TSC reads across CPUs). */
	bv->tsc_offset = v->id && bvm->cpu[0] ? bt_vcpu_of(bvm->cpu[0])->tsc_offset :
		-(int64_t)guest_tsc_from_ns(vm_clock_now_ns(&v->vm->clock));
	/* Application processors wait for INIT-SIPI-SIPI. */
	bv->wait_sipi = v->id != 0;
	v->engine_priv = bv;
	bvm->cpu[v->id] = cpu;
	return 0;
}

static void bt_vcpu_destroy(struct vcpu *v)
{
	struct bt_vcpu *bv = v->engine_priv;

	if (!bv)
		return;
	bv->cpu.bvm->cpu[v->id] = NULL;
	bt_block_cache_free(&bv->cpu);
	pthread_cond_destroy(&bv->wake);
	pthread_mutex_destroy(&bv->lock);
	free(bv);
	v->engine_priv = NULL;
}

/* Sleep until kicked or until deadline (VM clock ns, UINT64_MAX: none). */
static void sleep_until(struct bt_vcpu *bv, uint64_t vm_deadline)
{
	uint64_t deadline = vm_clock_to_monotonic(&bv->cpu.bvm->vm->clock, vm_deadline);
	struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000ull),
			       .tv_nsec = (long)(deadline % 1000000000ull) };

	pthread_mutex_lock(&bv->lock);
	while (!atomic_load(&bv->cpu.kick)) {
		if (deadline == UINT64_MAX)
			pthread_cond_wait(&bv->wake, &bv->lock);
		else if (pthread_cond_timedwait(&bv->wake, &bv->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&bv->lock);
}

/* INIT and SIPI from the local APIC. Returns true while the vCPU waits for a SIPI. */
static bool handle_init_sipi(struct bt_vcpu *bv)
{
	struct bt_cpu *cpu = &bv->cpu;
	struct irqchip *chip = cpu->bvm->irqchip;
	int id = cpu->vcpu->id;
	uint8_t vector;

	if (irqchip_take_init(chip, id)) {
		struct cpu_state before = cpu->s;
		reset_cpu(cpu);
		cpu->s.apic_base = before.apic_base;
		copy_mtrrs(&cpu->s, &before);
		bv->wait_sipi = true;
	}
	if (irqchip_take_sipi(chip, id, &vector) && bv->wait_sipi) {
		/* Real mode at vector << 12: CS = vector << 8, IP = 0. */
		cpu->s.seg[S_CS].sel = (uint16_t)(vector << 8);
		cpu->s.seg[S_CS].base = (uint64_t)vector << 12;
		cpu->s.rip = 0;
		cpu->s.halted = false;
		bt_update_mode(cpu);
		bv->wait_sipi = false;
	}
	return bv->wait_sipi;
}

/* Deliver an NMI the local APIC holds, unless an earlier one is still being handled (blocked
 * until IRET: the APIC keeps this one latched meanwhile, and a third is lost as on hardware) or
 * the instruction after MOV SS / POP SS (or STI) has not run yet. IF does not matter. */
static bool inject_nmi(struct bt_vcpu *bv)
{
	struct bt_cpu *cpu = &bv->cpu;

	if (cpu->nmi_blocked || cpu->inhibit_irq ||
	    !irqchip_take_nmi(cpu->bvm->irqchip, cpu->vcpu->id))
		return false;
	stat_add(&cpu->stats.interrupts, 1);
	stat_add(&cpu->vcpu->stats.count[STAT_IRQ_INJECTED], 1);
	bt_deliver(cpu, EXC_NMI, false, 0, BT_DELIVER_HW);
	cpu->nmi_blocked = true;
	return true;
}

/* Deliver an external interrupt if RFLAGS.IF and no STI/MOV SS shadow allow it. */
static bool inject_irq(struct bt_vcpu *bv)
{
	struct bt_cpu *cpu = &bv->cpu;
	struct irqchip *chip = cpu->bvm->irqchip;
	int id = cpu->vcpu->id;

	if (!(cpu->s.rflags & RFLAGS_IF) || cpu->inhibit_irq)
		return false;
	int vector = irqchip_pending(chip, id);
	if (vector < 0) {
		atomic_store(&bv->irq_hint, false);
		return false;
	}
	vector = irqchip_ack(chip, id, vector);
	if (vector < 0)
		return false;
	stat_add(&cpu->stats.interrupts, 1);
	stat_add(&cpu->vcpu->stats.count[STAT_IRQ_INJECTED], 1);
	bt_deliver(cpu, vector, false, 0, BT_DELIVER_HW);
	return true;
}

bool bt_fault_landed(struct bt_cpu *cpu, volatile int *delivering)
{
	int vector = cpu->pending_vector;
	bool has_error = cpu->pending_has_error;
	uint32_t error = cpu->pending_error;

	if (vector == BT_VEC_SHUTDOWN)
		return false;
	if (*delivering >= 0) {
		int second = bt_fault_during_delivery(*delivering, vector);
		if (second == BT_VEC_SHUTDOWN) {
			if (!atomic_load(&cpu->bvm->vm->stop_requested))
				vmon_log("vcpu %d: triple fault (vector %d during #DF delivery)",
					 cpu->vcpu->id, vector);
			return false;
		}
		if (second == EXC_DF && vector != EXC_DF) {
			has_error = true;
			error = 0;
		}
		vector = second;
	}
	cpu->dbg_hit = 0;	/* a faulting instruction did not complete: no data #DB */
	stat_add(&cpu->stats.exceptions[vector], 1);
	*delivering = bt_exc_class(vector);
	bt_deliver(cpu, vector, has_error, error, BT_DELIVER_EXC);
	return true;
}

static enum vcpu_exit bt_vcpu_run(struct vcpu *v)
{
	struct bt_vcpu *bv = v->engine_priv;
	struct bt_cpu *cpu = &bv->cpu;
	struct vm *vm = v->vm;
	struct irqchip *chip = cpu->bvm->irqchip;
	/* Class of the event being delivered when a fault lands, or -1 outside delivery. */
	volatile int delivering = -1;

	irqchip_set_current_cpu(v->id);
	if (setjmp(cpu->fault_jmp) && !bt_fault_landed(cpu, &delivering))
		/* A guest that reset the machine may triple-fault before it notices (SeaBIOS
		 * tries one way to reset after another): the VM has ended. */
		return atomic_load(&vm->stop_requested) ? VCPU_EXIT_STOP : VCPU_EXIT_SHUTDOWN;
	delivering = -1;

	for (;;) {
		atomic_store(&cpu->kick, false);
		if (atomic_load(&vm->stop_requested) || atomic_load(&vm->pause_requested))
			return VCPU_EXIT_STOP;
		if (handle_init_sipi(bv)) {
			sleep_until(bv, UINT64_MAX);
			continue;
		}
		uint64_t deadline = irqchip_poll(chip, vm_clock_now_ns(&vm->clock));

		bool halted = cpu->s.halted;
		delivering = BT_EXC_BENIGN;
		bool injected = inject_nmi(bv) || inject_irq(bv);
		delivering = -1;
		/* Leaving HLT, for an interrupt or a kick, consumes the kick (as in KVM). */
		if (halted) {
			bool kicked = atomic_exchange(&bv->pv_unhalt, false);
			if (injected || kicked)
				cpu->s.halted = false;
		}
		if (cpu->s.halted) {
			sleep_until(bv, deadline);
			continue;
		}

		/* Single-step: one instruction, then the #DB trap (DR6.BS); a data or I/O breakpoint
		 * met traps the same way. Both wait one more instruction after MOV SS / POP SS. */
		bool tf = cpu->s.rflags & RFLAGS_TF;
		uint64_t ran = bt_interp_run(cpu, tf ? 1 : SLICE_INSNS);
		bool step = tf && ran;
		if ((step || cpu->dbg_hit) && !cpu->inhibit_db) {
			bt_dbg_trap_status(cpu, step);
			stat_add(&cpu->stats.exceptions[EXC_DB], 1);
			delivering = BT_EXC_BENIGN;
			bt_deliver(cpu, EXC_DB, false, 0, BT_DELIVER_HW);
			delivering = -1;
		}
	}
}

static int bt_get_state(struct vcpu *v, struct cpu_state *s)
{
	struct bt_vcpu *bv = v->engine_priv;
	struct bt_cpu *cpu = &bv->cpu;
	struct lapic *l = bt_lapic(cpu);

	*s = cpu->s;
	s->rflags = bt_get_rflags(cpu);
	s->tsc = bt_guest_tsc(cpu);
	s->interrupt_shadow = cpu->inhibit_irq;
	/* A kicked vCPU that has not run yet is as good as awake (KVM_GET_MP_STATE says
	 * RUNNABLE too); a kick that comes before its HLT is not saved, as in KVM. */
	s->halted = cpu->s.halted && !atomic_load(&bv->pv_unhalt);
	if (l) {
		s->apic_base = lapic_get_base_msr(l);
		s->cr8 = lapic_get_tpr(l);
	}
	return 0;
}

static int bt_set_state(struct vcpu *v, const struct cpu_state *s)
{
	struct bt_vcpu *bv = v->engine_priv;
	struct bt_cpu *cpu = &bv->cpu;
	struct lapic *l = bt_lapic(cpu);

	cpu->s = *s;
	bt_set_rflags(cpu, s->rflags);
	cpu->inhibit_irq = s->interrupt_shadow;
	bv->tsc_offset = (int64_t)(s->tsc - guest_tsc_from_ns(vm_clock_now_ns(&v->vm->clock)));
	bt_kvmclock_publish(cpu);
	if (l) {
		lapic_set_base_msr(l, s->apic_base);
		lapic_set_tpr(l, (uint8_t)(s->cr8 & 0xf));
	}
	bt_apic_moved(cpu);
	bt_update_mode(cpu);
	bt_dbg_update(cpu);
	bt_shadow_reset(cpu);	/* guest memory may have been loaded too */
	bt_tlb_flush(cpu, true);
	return 0;
}

static void bt_irq_line(struct vm *vm, unsigned gsi, int level)
{
	struct bt_vm *bvm = vm->engine_priv;

	irqchip_set_irq(bvm->irqchip, gsi, level);
}

static void bt_nmi(struct vm *vm)
{
	struct bt_vm *bvm = vm->engine_priv;

	irqchip_nmi_button(bvm->irqchip);
}

static void bt_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct bt_vm *bvm = vm->engine_priv;

	irqchip_msi(bvm->irqchip, addr, data);
}

/* Device DMA: pages holding decoded code get a new generation, so their blocks are decoded again,
 * and shadow page-table entries read through written pages are dropped (bt_code_written). */
static void bt_ram_written(struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct bt_vm *bvm = vm->engine_priv;
	uint64_t first = gpa >> 12, last = (gpa + len - 1) >> 12;

	if (gpa + len - 1 < gpa)
		last = UINT64_MAX >> 12;
	for (uint64_t p = first; p <= last && p < bvm->nr_pages; p++)
		bt_code_written(bvm, p << 12);
}

static void bt_kick(struct vcpu *v)
{
	if (v->engine_priv)
		wake(v->engine_priv);
}

/* Counters summed over the vCPUs. Relaxed atomic loads: the API thread reads them while the
 * vCPUs count (each vCPU only ever writes its own). */
static void stats_total(struct bt_vm *bvm, struct bt_stats *t)
{
	*t = (struct bt_stats){ 0 };
	for (int k = 0; k < bvm->nr_cpus; k++) {
		const struct bt_stats *s = bvm->cpu[k] ? &bvm->cpu[k]->stats : NULL;
		if (!s)
			continue;
		const uint64_t *src = (const uint64_t *)s;
		uint64_t *dst = (uint64_t *)t;
		for (size_t n = 0; n < sizeof(*t) / sizeof(uint64_t); n++)
			dst[n] += __atomic_load_n(&src[n], __ATOMIC_RELAXED);
	}
}

static void bt_counters(struct vm *vm, void (*fn)(void *opaque, const char *name, uint64_t val),
			void *opaque)
{
	struct bt_stats t;
	char name[32];

	stats_total(vm->engine_priv, &t);
#define BT_COUNTER_REPORT(field, name) fn(opaque, name, t.field);
	BT_COUNTERS(BT_COUNTER_REPORT)
#undef BT_COUNTER_REPORT
	for (int k = 0; k < 32; k++) {
		snprintf(name, sizeof(name), "exception_%d", k);
		if (t.exceptions[k])
			fn(opaque, name, t.exceptions[k]);
	}
	for (int k = 0; k <= BT_HC_COUNTED; k++) {
		snprintf(name, sizeof(name), "hypercall_%d%s", k, k == BT_HC_COUNTED ? "+" : "");
		if (t.hypercalls[k])
			fn(opaque, name, t.hypercalls[k]);
	}
}

const struct engine_ops bt_engine = {
	.name = "bt",
	.probe = bt_probe,
	.vm_create = bt_vm_create,
	.vm_destroy = bt_vm_destroy,
	.vcpu_create = bt_vcpu_create,
	.vcpu_destroy = bt_vcpu_destroy,
	.vcpu_run = bt_vcpu_run,
	.get_state = bt_get_state,
	.set_state = bt_set_state,
	.irq_line = bt_irq_line,
	.msi = bt_msi,
	.nmi = bt_nmi,
	.ram_written = bt_ram_written,
	.kick = bt_kick,
	.counters = bt_counters,
	.dirty_log_start = bt_dirty_log_start,
	.dirty_log_fetch = bt_dirty_log_fetch,
	.dirty_log_stop = bt_dirty_log_stop,
};
