; Relocating the xAPIC page (IA32_APIC_BASE) in 32-bit protected mode, into RAM: the registers
; answer at the new page, which hides the RAM there; the old page reads all ones; moved back,
; the APIC keeps its state (TPR) and the RAM under the other page reappears intact.
; bt only: KVM ignores a relocation ("APIC base relocation is unsupported by KVM"), QEMU TCG too.
; engines: bt
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 91
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "apic_base.inc"

LAPIC		equ 0xfee00000
REG_VERSION	equ 0x30
REG_TPR		equ 0x80
MOVED		equ 0x400000		; RAM

	MULTIBOOT_KERNEL
main:
	; Relocation into RAM.
	mov dword [MOVED + REG_VERSION], 0x12345678
	WRMSR_BASE MOVED | BASE_EN | BASE_BSP
	SHOW "moved: version", [MOVED + REG_VERSION]
	SHOW "moved: old page", [LAPIC + REG_VERSION]
	mov dword [MOVED + REG_TPR], 0x20
	SHOW "moved: tpr", [MOVED + REG_TPR]
	WRMSR_BASE LAPIC | BASE_EN | BASE_BSP
	SHOW "back: ram under it", [MOVED + REG_VERSION]
	SHOW "back: tpr", [LAPIC + REG_TPR]

	PRINT "apic relocate ok", 10
	EXIT 0x2d

	SERIAL_LIB
	MULTIBOOT_END
