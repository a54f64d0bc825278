/* bt engine, system side: what engine.c, mmu.c, seg.c, except.c and the privileged-instruction
 * handlers share beyond bt.h. Not for the decoder/interpreter.
 */
#ifndef VMON_BT_BTSYS_H
#define VMON_BT_BTSYS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/bt/bt.h"
#include "vm.h"

/* Physical address width vmon's CPU model advertises (CPUID 0x80000008) and checks
 * reserved bits against. */
#define BT_MAXPHYADDR	40
#define BT_PHYS_MASK	((1ull << BT_MAXPHYADDR) - 1)

/* pending_vector value for "stop this vCPU": bt_shutdown(). */
#define BT_VEC_SHUTDOWN	(-1)

/* bt_deliver's soft argument: INT n / INT3 / INTO check the gate DPL; INT1 (ICEBP) returns
 * to the next instruction like them but skips the DPL check. BT_DELIVER_EXC is an exception an
 * instruction raised (bt_raise): a fault-class one pushes RFLAGS with RF set. BT_DELIVER_HW is
 * everything else the CPU delivers on its own (interrupts, NMIs, debug traps). */
enum { BT_DELIVER_HW = 0, BT_DELIVER_SOFT = 1, BT_DELIVER_ICEBP = 2, BT_DELIVER_EXC = 3 };

/* Exception classes of the SDM's double-fault rules (Vol. 3, Table 6-5). */
enum { BT_EXC_BENIGN, BT_EXC_CONTRIBUTORY, BT_EXC_PF, BT_EXC_DF };
int bt_exc_class(int vector);
/* The event to deliver when vector faults while an event of first_class is being delivered:
 * vector itself (handled serially), EXC_DF, or BT_VEC_SHUTDOWN (triple fault). */
int bt_fault_during_delivery(int first_class, int vector);

/* Shadow page tables (shadow.c): the results of guest page walks, kept per guest address
 * space and coherent with guest memory by write-protecting the guest's paging-structure pages
 * (see shadow.c's header comment for the design). */
#define BT_SHADOW_ROOTS		16	/* address spaces remembered per vCPU (LRU) */
#define BT_SHADOW_BITS		14	/* 4 KiB translations: 2^14 entries per vCPU */
#define BT_SHADOW_LARGE_BITS	10	/* 2M/4M/1G translations */
#define BT_WALK_MAX_TABLES	4	/* paging-structure pages a walk reads (4-level paging) */

/* One walk's result: what the walk allowed, where it leads, and the tables it read. */
struct bt_walk {
	uint64_t gpa;			/* guest-physical page of the linear page */
	bool user, write, exec;		/* U, R/W, !XD of all levels combined (CR0.WP not applied) */
	bool dirty;			/* the leaf's D bit is set */
	bool global;			/* leaf G with CR4.PGE */
	uint8_t shift;			/* page size: 12, or 21/22/30 for a large page */
	uint8_t nr_tables;
	uint32_t pfn[BT_WALK_MAX_TABLES];	/* the tables read, top level first */
	uint32_t gen[BT_WALK_MAX_TABLES];	/* their write generations when read */
};

struct bt_shadow_entry {
	uint64_t lin;			/* linear base of the page (4K or large) */
	uint64_t gpa;			/* guest-physical base of the page */
	uint64_t owner;			/* id of the root (or of the global set); 0 = empty */
	uint32_t pfn[BT_WALK_MAX_TABLES];
	uint32_t gen[BT_WALK_MAX_TABLES];
	uint8_t nr_tables, shift;
	bool user, write, exec, dirty, global;
};

struct bt_shadow_root {
	uint64_t cr3, key;		/* CR3 and the paging-mode bits (shadow.c: paging_key) */
	uint64_t last_used;
	uint64_t id;			/* 0: free slot; ids are never reused */
};

struct bt_shadow {
	uint64_t cur_cr3, cur_key;	/* the root the vCPU runs on */
	uint64_t cur_id;
	uint64_t global_id;		/* owner of global entries, renewed on a global flush */
	uint64_t global_key;		/* paging-mode bits the global entries were made under */
	uint64_t next_id;
	uint64_t clock;			/* LRU time */
	struct bt_shadow_root root[BT_SHADOW_ROOTS];
	/* A hash of each entry's key beside the entries: most probes miss, and then touch only
	 * this small array (the entries themselves do not fit a cache). */
	uint64_t small_tag[1u << BT_SHADOW_BITS];
	uint64_t large_tag[1u << BT_SHADOW_LARGE_BITS];
	struct bt_shadow_entry small[1u << BT_SHADOW_BITS];
	struct bt_shadow_entry large[1u << BT_SHADOW_LARGE_BITS];
};

/* The engine's per-vCPU object: the bt_cpu first, so a struct bt_cpu * converts back. */
struct bt_vcpu {
	struct bt_cpu cpu;
	struct bt_shadow shadow;
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* HLT / wait-for-SIPI sleep */
	bool wait_sipi;			/* AP before its startup IPI, or after INIT */
	atomic_bool irq_hint;		/* the irqchip kicked: an interrupt may be pending */
	atomic_bool pv_unhalt;		/* KVM_HC_KICK_CPU came: the next (or current) HLT ends */
	int64_t tsc_offset;		/* guest TSC = guest_tsc_from_ns(now) + tsc_offset */
	/* Guest-physical page of this CPU's xAPIC when relocated from LAPIC_DEFAULT_BASE (it then
	 * takes precedence over RAM there), else 0. */
	uint64_t apic_page;
};

static inline struct bt_vcpu *bt_vcpu_of(struct bt_cpu *cpu)
{
	return (struct bt_vcpu *)cpu;
}

/* The VM clock's time (vm_clock.h), which the guest TSC and kvmclock follow. */
static inline uint64_t bt_vm_clock_now(struct bt_cpu *cpu)
{
	return vm_clock_now_ns(&cpu->bvm->vm->clock);
}
/* engine.c, shared with emulate.c (the interpreter on another engine's vCPU state). */
/* Guest-physical pages the machine's RAM spans (the size of the per-page arrays). */
uint64_t bt_ram_pages(const struct vm *vm);
/* A vCPU of bvm for v, zeroed, with an empty soft TLB and block cache (jit: as for
 * bt_block_cache_init); NULL if out of memory. Freed by bt_block_cache_free and free. */
struct bt_vcpu *bt_vcpu_alloc(struct vcpu *v, struct bt_vm *bvm, bool jit);
/* The fault landing pad's work, after setjmp(cpu->fault_jmp) returned: delivers the pending
 * fault through the guest's IDT, escalated to #DF or a triple fault by the class of the event
 * being delivered (*delivering, -1 for none: SDM Vol. 3, Table 6-5), and sets *delivering to
 * the class of what it delivers (a fault during that delivery lands here again). false: the
 * vCPU shuts down (triple fault, said on stderr, or bt_shutdown). */
bool bt_fault_landed(struct bt_cpu *cpu, volatile int *delivering);

/* Stop the vCPU: vcpu_run returns VCPU_EXIT_SHUTDOWN after printing why (unsupported guest
 * state that real hardware would handle, e.g. a task gate). Never returns. */
_Noreturn void bt_shutdown(struct bt_cpu *cpu, const char *why);

/* ---- msr.c ---- */
/* IA32_APIC_BASE changed (a write, a restore): follow a relocated xAPIC page. */
void bt_apic_moved(struct bt_cpu *cpu);

/* ---- task.c: hardware task switches (32-bit protected mode) ---- */
enum bt_task_reason { BT_TASK_JMP, BT_TASK_CALL, BT_TASK_IRET, BT_TASK_INT };
/* Switch to the task of TSS selector sel; ret_ip is the EIP saved in the old task, an error
 * code (exceptions through a task gate) is pushed on the new task's stack. */
void bt_task_switch(struct bt_cpu *cpu, uint16_t sel, enum bt_task_reason reason, uint64_t ret_ip,
		    bool has_error, uint32_t error);
/* JMP / CALL far to sel: if it names a TSS or a task gate (protected mode), do the task switch
 * and return true; false for anything else (a code segment). */
bool bt_task_target(struct bt_cpu *cpu, uint16_t sel, enum bt_task_reason reason, uint64_t ret_ip);

/* ---- debug.c: debug registers ---- */
/* DR7 or CR4.DE changed: recompute the armed breakpoints (flushes the TLB if data ones change). */
void bt_dbg_update(struct bt_cpu *cpu);
/* Data breakpoints (on writes; with write false, on reads) in the page at page. */
bool bt_dbg_page_watched(const struct bt_cpu *cpu, uint64_t page, bool write);
/* An access (slow path) or port I/O: a breakpoint it meets is recorded for the trap. */
void bt_dbg_data_access(struct bt_cpu *cpu, uint64_t lin, unsigned size, bool write);
void bt_dbg_io(struct bt_cpu *cpu, uint16_t port, unsigned size);
/* MOV DR with DR7.GD: #DB. */
void bt_dbg_check_gd(struct bt_cpu *cpu);

/* ---- dirty.c: the dirty-page log ---- */
/* A TLB entry for RAM that permits writing was just filled for access acc: marks its page
 * (a write) or withholds the write permission (a read or fetch) while logging. */
void bt_dirty_fill(struct bt_cpu *cpu, struct bt_tlb_entry *e, enum bt_access acc);
/* The engine stored into guest RAM at hva (page-walk A/D bits, ...). */
void bt_dirty_host(struct bt_cpu *cpu, const void *hva);
int bt_dirty_log_start(struct vm *vm);
int bt_dirty_log_fetch(struct vm *vm, uint64_t *bitmap);
void bt_dirty_log_stop(struct vm *vm);

/* ---- mmu.c ---- */
/* TLB entry for the page of lin with the tag for acc valid (walks, checks, sets A/D, may
 * raise #PF). The entry's tag may still carry TLB_SLOW (MMIO or watched page). */
struct bt_tlb_entry *bt_translate(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, int tlb);
/* Drop own TLB entries that map gpa_page (release: all of them; otherwise only their fast
 * write path), after the page's write protection changed. */
void bt_tlb_drop_gpa(struct bt_cpu *cpu, uint64_t gpa_page, bool release);

/* ---- shadow.c ---- */
/* Guest-RAM page state for shadowing, and bvm->atomic_lock (recursive: the walk's A/D updates
 * take it). */
int bt_shadow_vm_init(struct bt_vm *bvm);
void bt_shadow_vm_free(struct bt_vm *bvm);
/* A walk is about to read the paging-structure page pfn (in guest RAM): write-protect it from
 * now on; returns its write generation (read before the entry). */
uint32_t bt_shadow_watch(struct bt_cpu *cpu, uint64_t pfn);
/* Whether writes to the guest-physical page must reach bt_shadow_write_trap. */
static inline bool bt_shadow_watched(const struct bt_vm *bvm, uint64_t gpa_page)
{
	uint64_t pfn = gpa_page >> 12;
	return pfn < bvm->nr_pages &&
	       (atomic_load_explicit(&bvm->pt_state[pfn], memory_order_relaxed) & BT_PT_WATCHED);
}
/* The vCPU stored len bytes into a watched page (after the store). */
void bt_shadow_write_trap(struct bt_cpu *cpu, uint64_t gpa_page, unsigned len);
/* Find a shadow translation of lin that allows acc (tlb: which privilege); false: walk. */
bool bt_shadow_lookup(struct bt_cpu *cpu, uint64_t lin, enum bt_access acc, int tlb,
		      struct bt_walk *w);
void bt_shadow_store(struct bt_cpu *cpu, uint64_t lin, const struct bt_walk *w);
/* INVLPG: forget lin in the current address space and the global set. */
void bt_shadow_invalidate_lin(struct bt_cpu *cpu, uint64_t lin);
/* A TLB flush that includes global entries: if the paging mode changed, global entries go. */
void bt_shadow_flush_global(struct bt_cpu *cpu);
/* Forget everything (state loaded from outside: memory may have changed unseen). */
void bt_shadow_reset(struct bt_cpu *cpu);
/* Whether the permissions of a walk allow an access acc with user or supervisor privilege
 * (wp: CR0.WP). A write also needs D set, so that the first write walks to set it. */
bool bt_walk_allows(const struct bt_walk *w, enum bt_access acc, bool user, bool wp);

/* Protected-mode type and limit checks of an access to segment s (not long mode). */
bool bt_seg_ok(const struct seg_reg *s, uint64_t off, unsigned size, enum bt_access acc);

/* ---- seg.c ---- */
/* The 8-byte descriptor sel refers to (GDT or LDT); raises #GP(sel) past the table limit or
 * for an LDT selector without an LDT. *lin receives the descriptor's linear address. */
uint64_t bt_read_desc(struct bt_cpu *cpu, uint16_t sel, uint64_t *lin);
/* High 8 bytes of a 16-byte system descriptor in IA-32e mode (LDT, TSS, gates in the GDT). */
uint64_t bt_read_desc_hi(struct bt_cpu *cpu, uint64_t lin);
void bt_desc_to_seg(struct seg_reg *s, uint16_t sel, uint64_t desc);
/* Set the descriptor's accessed bit in memory if it is clear. */
void bt_desc_set_accessed(struct bt_cpu *cpu, uint64_t lin, uint64_t desc);
static inline uint32_t bt_desc_attr(uint64_t d) { return (uint32_t)(d >> 40) & 0xf0ff; }
static inline unsigned bt_desc_dpl(uint64_t d) { return (unsigned)(d >> 45) & 3; }
/* Load CS from an already checked code descriptor with RPL = cpl. */
void bt_load_cs(struct bt_cpu *cpu, uint16_t sel, uint64_t desc, unsigned cpl);
/* Check a code-segment descriptor as the target of a far JMP/CALL at the current CPL
 * (no gates): #GP(sel) / #NP(sel). Returns the descriptor. */
uint64_t bt_check_far_target(struct bt_cpu *cpu, uint16_t sel);
/* Checks of a far RET / IRET target: code segment with RPL >= CPL (#GP/#NP), and of the
 * stack segment for a return to privilege rpl (0 for an allowed null SS in 64-bit mode). */
uint64_t bt_check_ret_cs(struct bt_cpu *cpu, uint16_t cs, uint64_t *lin);
uint64_t bt_check_ret_ss(struct bt_cpu *cpu, uint16_t ss, unsigned rpl, bool to64, uint64_t *lin);
/* Load SS from a checked descriptor (desc 0: null SS with RPL cpl) and refresh the mode. */
void bt_set_ss(struct bt_cpu *cpu, uint16_t ss, uint64_t desc, unsigned cpl);
/* Null data segment registers whose DPL is below the new CPL (return to outer privilege). */
void bt_null_outer_segs(struct bt_cpu *cpu);

/* ---- Stack access without committing RSP (far transfers, IRET, interrupt frames) ---- */
uint64_t bt_stack_mask(unsigned stack_size);
uint64_t bt_stack_peek(struct bt_cpu *cpu, uint64_t rsp, unsigned off, unsigned size);
void bt_set_rsp(struct bt_cpu *cpu, uint64_t rsp);

struct lapic;
/* This vCPU's local APIC, or NULL without an irqchip (unit tests). */
struct lapic *bt_lapic(struct bt_cpu *cpu);

/* Privilege checks shared by handlers. */
void bt_require_cpl0(struct bt_cpu *cpu);	/* #GP(0) unless CPL 0 (and not v86) */
static inline unsigned bt_iopl(const struct bt_cpu *cpu) { return (cpu->s.rflags >> 12) & 3; }
/* An interrupt might now be deliverable (IF set): make the run loop look. */
void bt_irq_window_opened(struct bt_cpu *cpu);

/* ---- sys.c: RFLAGS as POPF / IRET may change them at the current privilege ---- */
uint64_t bt_merge_rflags(struct bt_cpu *cpu, uint64_t cur, uint64_t val, unsigned opsize);

/* ---- cpuid.c / msr.c ---- */
void bt_cpuid(struct bt_cpu *cpu, uint32_t leaf, uint32_t r[4]);
/* false: #GP. */
bool bt_msr_read(struct bt_cpu *cpu, uint32_t msr, uint64_t *val);
bool bt_msr_write(struct bt_cpu *cpu, uint32_t msr, uint64_t val);
uint64_t bt_guest_tsc(struct bt_cpu *cpu);

/* ---- kvmclock.c: KVM paravirtual clock ---- */
/* MSR_KVM_SYSTEM_TIME_NEW / MSR_KVM_WALL_CLOCK_NEW writes: store, then write the guest's area. */
void bt_kvmclock_set_system_time(struct bt_cpu *cpu, uint64_t val);
void bt_kvmclock_set_wall_clock(struct bt_cpu *cpu, uint64_t val);
/* Rewrite the vCPU's pvclock_vcpu_time_info (if enabled) after its TSC offset changed. */
void bt_kvmclock_publish(struct bt_cpu *cpu);
/* pvclock scaling: ns = ((tsc << shift) * mul) >> 32 (shift < 0: right shift); for_hz picks
 * mul and shift for a TSC of hz > 0 Hz. */
void pvclock_scale_for(uint64_t hz, uint32_t *mul, int8_t *shift);
uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int8_t shift);

/* ---- hypercall.c: KVM hypercall numbers vmon implements ---- */
#define KVM_HC_KICK_CPU		5
#define KVM_HC_SEND_IPI		10
#define KVM_HC_SCHED_YIELD	11

/* ---- engine.c ---- */
/* KVM_HC_KICK_CPU's effect (PV_UNHALT): vCPU id's current HLT ends, or its next one does not
 * wait, even with interrupts off. Unknown ids are ignored, as KVM does. */
void bt_pv_unhalt(struct bt_vm *bvm, uint64_t id);

static inline bool bt_canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

#endif
