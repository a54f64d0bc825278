; A guest that counts on PIT interrupts: "tick 00" .. "tick 09", one line every 10 ticks of a
; ~100 Hz PIT (IRQ0 through the remapped 8259A), halted in between; every 50 ticks with "slow"
; on its command line, every 200 with "long" (for the kvm engine nested under QEMU TCG, where
; the guest runs in real time and the test scripts around it are slow). tests/integration/snapshot_tiny.sh snapshots it mid-count and checks
; that a restored VM prints the rest.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 49
; kvm-needs: iretd-cpl0
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

LINES		equ 10
TICKS_PER_LINE	equ 10
SLOW_TICKS_PER_LINE equ 50
LONG_TICKS_PER_LINE equ 200
MBI_FLAGS	equ 0			; multiboot information: flags, command line
MBI_CMDLINE	equ 16
MBI_HAS_CMDLINE	equ 1 << 2
PIT_HZ		equ 1193182
PIT_DIVISOR	equ PIT_HZ / 100

	MULTIBOOT_KERNEL
main:
	mov ebx, [mb_info]
	test dword [ebx + MBI_FLAGS], MBI_HAS_CMDLINE
	jz .fast
	mov esi, [ebx + MBI_CMDLINE]
.scan:	cmp byte [esi], 0
	je .fast
	cmp dword [esi], 'slow'
	je .slow
	cmp dword [esi], 'long'
	je .long
	inc esi
	jmp .scan
.long:	mov dword [per_line], LONG_TICKS_PER_LINE
	jmp .fast
.slow:	mov dword [per_line], SLOW_TICKS_PER_LINE
.fast:
	call idt_init
	SET_HANDLER 0x20, irq0

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

	mov al, 0x34			; channel 0, lo/hi byte, mode 2, binary
	out 0x43, al
	mov al, PIT_DIVISOR & 0xff
	out 0x40, al
	mov al, PIT_DIVISOR >> 8
	out 0x40, al

	xor ebx, ebx			; lines printed
	sti
.line:	PRINT "tick "
	HEX ebx, 2
	PRINT 10
	inc ebx
	cmp ebx, LINES
	jae .done
	mov dword [ticks], 0
.wait:	hlt
	mov eax, [per_line]
	cmp [ticks], eax
	jb .wait
	jmp .line
.done:	cli
	EXIT 0x18

irq0:	inc dword [ticks]
	mov al, 0x20			; non-specific EOI
	out 0x20, al
	ret

ticks:	dd 0
per_line: dd TICKS_PER_LINE

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
