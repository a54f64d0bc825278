; Local APIC timer waking HLT in 32-bit protected mode: APIC software-enabled through SVR, PIC
; fully masked; a one-shot interrupt (the count then stays at 0), then periodic until 5 ticks,
; EOI through the APIC each time, and finally the LVT masked again.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 49
; kvm-needs: iretd-cpl0
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

LAPIC		equ 0xfee00000
LAPIC_ID	equ LAPIC + 0x20
LAPIC_EOI	equ LAPIC + 0xb0
LAPIC_SVR	equ LAPIC + 0xf0
LAPIC_LVT_TIMER	equ LAPIC + 0x320
LAPIC_TMR_INIT	equ LAPIC + 0x380
LAPIC_TMR_CUR	equ LAPIC + 0x390
LAPIC_TMR_DIV	equ LAPIC + 0x3e0
TIMER_VECTOR	equ 0x40
LVT_MASKED	equ 1 << 16
LVT_PERIODIC	equ 1 << 17
TIMER_COUNT	equ 1000000		; 1 ms at a 1 GHz APIC clock, 10 ms at 100 MHz
TICKS		equ 5

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER TIMER_VECTOR, timer
	SET_HANDLER 0xff, spurious
	PRINT "lapic timer", 10
	mov al, 0xff			; nothing from the 8259s
	out 0x21, al
	out 0xa1, al

	mov eax, [LAPIC_ID]
	shr eax, 24
	PRINT "apic id "
	HEX eax, 2
	PRINT 10
	mov dword [LAPIC_SVR], 0x100 | 0xff	; enabled, spurious vector 0xff
	mov dword [LAPIC_TMR_DIV], 0xb		; divide by 1

	mov dword [LAPIC_LVT_TIMER], TIMER_VECTOR
	mov dword [LAPIC_TMR_INIT], TIMER_COUNT
	sti
.oneshot:
	hlt
	cmp dword [ticks], 1
	jb .oneshot
	cli
	mov eax, [LAPIC_TMR_CUR]
	PRINT "one-shot fired, count "
	HEX eax, 8
	PRINT 10

	mov dword [ticks], 0
	mov dword [LAPIC_LVT_TIMER], TIMER_VECTOR | LVT_PERIODIC
	mov dword [LAPIC_TMR_INIT], TIMER_COUNT
	sti
.periodic:
	hlt
	cmp dword [ticks], TICKS
	jb .periodic
	cli
	mov dword [LAPIC_LVT_TIMER], TIMER_VECTOR | LVT_PERIODIC | LVT_MASKED
	mov eax, [LAPIC_LVT_TIMER]
	PRINT "periodic ticks ok, lvt "
	HEX eax, 8
	PRINT 10
	PRINT "lapic timer ok", 10
	EXIT 0x18

timer:	inc dword [ticks]
	mov dword [LAPIC_EOI], 0
	ret

spurious:				; no EOI for the spurious vector
	ret

ticks:	dd 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
