; Timer interrupts waking HLT: 8259A pair remapped to vectors 0x20/0x28, only IRQ0 unmasked, PIT
; channel 0 in mode 2 at ~100 Hz; STI; HLT until the IRQ0 handler (EOI each time) counted 10 ticks.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 47
; kvm-needs: iretd-cpl0
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

TICKS		equ 10
PIT_HZ		equ 1193182
PIT_DIVISOR	equ PIT_HZ / 100

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 0x20, irq0
	PRINT "pit", 10

	mov al, 0x11			; ICW1: edge, cascade, ICW4 follows
	out 0x20, al
	out 0xa0, al
	mov al, 0x20			; ICW2: vector bases
	out 0x21, al
	mov al, 0x28
	out 0xa1, al
	mov al, 4			; ICW3: slave on IRQ2
	out 0x21, al
	mov al, 2
	out 0xa1, al
	mov al, 1			; ICW4: 8086 mode
	out 0x21, al
	out 0xa1, al
	mov al, 0xfe			; only IRQ0
	out 0x21, al
	mov al, 0xff
	out 0xa1, al
	in al, 0x21
	PRINT "pic mask "
	HEX eax, 2
	PRINT 10

	mov al, 0x34			; channel 0, lo/hi byte, mode 2, binary
	out 0x43, al
	mov al, PIT_DIVISOR & 0xff
	out 0x40, al
	mov al, PIT_DIVISOR >> 8
	out 0x40, al

	sti
.wait:	hlt
	cmp dword [ticks], TICKS
	jb .wait
	cli
	PRINT "ticks ok", 10
	EXIT 0x17

irq0:	inc dword [ticks]
	mov al, 0x20			; non-specific EOI
	out 0x20, al
	ret

ticks:	dd 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
