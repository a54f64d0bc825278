; x2APIC in 32-bit protected mode: CPUID offers it; IA32_APIC_BASE EN|EXTD switches to it; the
; registers are MSRs (ID unshifted, version, LDR from the ID, the xAPIC page reads all ones);
; the self-IPI MSR and the one 64-bit ICR MSR deliver fixed interrupts to this CPU; EOI is a
; write of 0; going straight back to xAPIC is #GP, through disabled it works.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 97
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"
%include "apic_base.inc"

LAPIC		equ 0xfee00000
MSR_ID		equ 0x802
MSR_VERSION	equ 0x803
MSR_EOI		equ 0x80b
MSR_LDR		equ 0x80d
MSR_SVR		equ 0x80f
MSR_ICR		equ 0x830
MSR_SELF_IPI	equ 0x83f

; RDMSR_SHOW "name", msr
%macro RDMSR_SHOW 2
	mov ecx, %2
	rdmsr
	SHOW %1, eax
%endmacro

; WRMSR_LO msr, value (EDX = 0)
%macro WRMSR_LO 2
	mov ecx, %1
	mov eax, %2
	xor edx, edx
	wrmsr
%endmacro

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 13, gp
	SET_HANDLER 0x50, irq
	SET_HANDLER 0x51, irq
	mov eax, 1
	cpuid
	shr ecx, 21
	and ecx, 1
	SHOW "cpuid.1:ecx.x2apic", ecx

	WRMSR_BASE LAPIC | BASE_EN | BASE_EXTD | BASE_BSP
	mov ecx, MSR_APIC_BASE
	rdmsr
	SHOW "apic base", eax
	RDMSR_SHOW "id", MSR_ID
	RDMSR_SHOW "version", MSR_VERSION
	RDMSR_SHOW "ldr", MSR_LDR
	SHOW "xapic page", [LAPIC + 0x30]
	WRMSR_LO MSR_SVR, 0x1ff

	sti
	WRMSR_LO MSR_SELF_IPI, 0x50
	nop
	cli
	SHOW "self ipi: vector", [last_vec]
	mov ecx, MSR_ICR
	mov eax, 0x51			; fixed, physical, to APIC ID 0 (EDX)
	xor edx, edx
	sti
	wrmsr
	nop
	cli
	SHOW "icr: vector", [last_vec]
	SHOW "irqs", [irqs]

	WRMSR_BASE LAPIC | BASE_EN | BASE_BSP	; x2APIC -> xAPIC
	SHOW "to xapic: #GP", [gps]
	WRMSR_BASE LAPIC | BASE_BSP		; off
	WRMSR_BASE LAPIC | BASE_EN | BASE_BSP	; then xAPIC
	mov ecx, MSR_APIC_BASE
	rdmsr
	SHOW "apic base", eax
	SHOW "xapic version", [LAPIC + 0x30]
	PRINT "x2apic ok", 10
	EXIT 0x30

irq:	mov eax, [ebx + FRAME_VEC]
	mov [last_vec], eax
	inc dword [irqs]
	mov ecx, MSR_EOI
	xor eax, eax
	xor edx, edx
	wrmsr
	ret

gp:	inc dword [gps]
	add dword [ebx + FRAME_IP], 2	; wrmsr
	ret

last_vec:	dd 0
irqs:		dd 0
gps:		dd 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
