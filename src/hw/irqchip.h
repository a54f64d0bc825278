/* Software interrupt controllers and timers (8259A PIC pair, IOAPIC, local APICs, 8254 PIT)
 * for engines without an in-kernel irqchip (the bt engine). KVM brings its own.
 *
 * Time is host CLOCK_MONOTONIC nanoseconds. Nothing here owns a thread: the engine calls
 * irqchip_poll() from its vCPU loops (and sleeps in HLT until irqchip_next_deadline()), so a
 * guest timer fires within one poll interval of its deadline.
 */
#ifndef VMON_HW_IRQCHIP_H
#define VMON_HW_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct irqchip;
struct lapic;

#define LAPIC_DEFAULT_BASE	0xfee00000ull
#define IOAPIC_BASE		0xfec00000ull

/* Called (from any thread) when a vCPU has a new interrupt or INIT/SIPI to look at:
 * the engine wakes it from HLT / makes its run loop check. */
typedef void (*irqchip_kick_fn)(void *opaque, int cpu);

/* Creates PIC, IOAPIC, PIT and nr_cpus LAPICs and registers their ports/MMIO on vm's buses. */
struct irqchip *irqchip_create(struct vm *vm, int nr_cpus, irqchip_kick_fn kick, void *opaque);
void irqchip_destroy(struct irqchip *c);

/* Device interrupt line (gsi 0-23): to the PIC (gsi < 16) and the IOAPIC. As on PCs, ISA IRQ 0
 * (the PIT) reaches IOAPIC pin 2: firmware tables must carry the IRQ0 -> GSI2 override. */
void irqchip_set_irq(struct irqchip *c, unsigned gsi, int level);

struct lapic *irqchip_lapic(struct irqchip *c, int cpu);

/* Fire due timers (PIT, LAPIC timers); returns the earliest future deadline (ns) or UINT64_MAX. */
uint64_t irqchip_poll(struct irqchip *c, uint64_t now_ns);

/* Highest-priority interrupt cpu may take now (vector 0-255), or -1. Looks at its LAPIC and, for
 * the BSP with LINT0 in ExtINT mode (or the APIC disabled), the PIC. Does not acknowledge. */
int irqchip_pending(struct irqchip *c, int cpu);
/* The CPU is delivering that vector: IRR -> ISR (LAPIC) or INTA cycle (PIC). Returns the vector
 * actually delivered (the PIC may have changed its mind: spurious 7/15). */
int irqchip_ack(struct irqchip *c, int cpu, int vector);

/* A fixed interrupt (vector 16-255) or an NMI from src_cpu to the LAPIC with physical APIC ID
 * apic_id, as an ICR write would send it (paravirtual IPIs). Returns whether a LAPIC took it. */
bool irqchip_send_ipi(struct irqchip *c, int src_cpu, uint32_t apic_id, bool nmi, uint8_t vector);

/* A message-signalled interrupt (MSI/MSI-X write of data to addr): address 0xfeeDD00x with
 * destination DD and bit 2 logical destination mode; data vector (bits 0-7) and delivery mode
 * (bits 8-10: fixed, lowest priority, NMI; others dropped). Delivered edge-triggered. Returns
 * whether a LAPIC took it. */
bool irqchip_msi(struct irqchip *c, uint64_t addr, uint32_t data);

/* INIT / SIPI addressed to cpu, consumed by the engine: returns true once per event. */
bool irqchip_take_init(struct irqchip *c, int cpu);
bool irqchip_take_sipi(struct irqchip *c, int cpu, uint8_t *vector);
/* NMI addressed to cpu (ICR or IOAPIC delivery mode NMI), once per event; the engine delivers
 * vector 2 regardless of RFLAGS.IF. */
bool irqchip_take_nmi(struct irqchip *c, int cpu);
/* An external NMI, wired as on PCs to every CPU's LINT1 (QEMU's `nmi` does the same). */
void irqchip_nmi_button(struct irqchip *c);

/* The calling thread runs vCPU cpu: LAPIC MMIO accesses from this thread reach that CPU's LAPIC.
 * Each vCPU thread calls it once before running; threads that never do see CPU 0. */
void irqchip_set_current_cpu(int cpu);

/* Replaces the clock device registers read (PIT counts, LAPIC current count, timer starts);
 * NULL restores the VM clock. Tests use it to run timers on explicit times. */
void irqchip_set_clock(struct irqchip *c, uint64_t (*now_ns)(void));

/* LAPIC registers the engine needs directly. */
void lapic_set_tpr(struct lapic *l, uint8_t cr8);	/* MOV CR8 = TPR[7:4] */
uint8_t lapic_get_tpr(struct lapic *l);
void lapic_set_base_msr(struct lapic *l, uint64_t val);
uint64_t lapic_get_base_msr(struct lapic *l);
/* A write of val to IA32_APIC_BASE holding old is allowed (else #GP): no reserved bit (address
 * bits above APIC_BASE_ADDR's, bits 0-7 and 9, EXTD unless x2APIC is offered), no x2APIC
 * without the enable bit, no x2APIC straight back to xAPIC (SDM vol. 3, 10.12.5). */
bool lapic_base_msr_valid(uint64_t old, uint64_t val, bool x2apic_offered);
/* An access to guest-physical gpa by the CPU of l: true (and done) if it falls in l's xAPIC page
 * relocated away from LAPIC_DEFAULT_BASE. */
bool lapic_mmio_relocated(struct lapic *l, uint64_t gpa, unsigned size, bool write, uint64_t *val);
void lapic_set_tsc_deadline(struct lapic *l, uint64_t guest_tsc);	/* MSR 0x6e0 */
uint64_t lapic_get_tsc_deadline(struct lapic *l);
/* x2APIC MSR access (0x800-0x8ff); false -> #GP. */
bool lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val);
bool lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val);

/* Guest TSC: runs at vmon's advertised TSC frequency from VM creation. */
#define GUEST_TSC_HZ	2000000000ull
uint64_t guest_tsc_from_ns(uint64_t ns);
uint64_t ns_from_guest_tsc(uint64_t tsc);
/* Restore: the guest TSC's epoch is epoch (as guest_tsc_epoch_ns read it when the snapshot
 * was taken). */
void guest_tsc_restore_epoch(uint64_t epoch);

#endif
