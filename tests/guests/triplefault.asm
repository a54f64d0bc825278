; Triple fault: with an empty IDT, INT3 raises #GP, its delivery #DF, and that one shuts the CPU
; down. vmon ends the VM with status 3 (a guest fault) and dumps the vCPU state on stderr.
; vmon-kind: boot-sector
; vmon-args:
; vmon-exit: 3
; kvm-needs: realmode-idt-limit
; qemu: no
%include "serial.inc"

	org 0x7c00
	bits 16
start:
	cli
	jmp 0:.cs0
.cs0:	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7c00
	PRINT "triple fault next", 10
	lidt [empty_idt]
	int3
	PRINT "still running", 10
	EXIT 1

empty_idt:
	dw 0
	dd 0

	SERIAL_LIB
	times 510 - ($ - $$) db 0
	dw 0xaa55
