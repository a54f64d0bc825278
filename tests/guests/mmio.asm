; MMIO to nothing: inside the 3-4 GiB hole at 0xd0000000 no device answers, so reads return
; all-ones at every width (also through REP MOVSD), writes are dropped, the guest carries on.
; vmon-only: QEMU returns other values for unassigned memory.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 45
; qemu: no
%include "serial.inc"
%include "multiboot.inc"

HOLE	equ 0xd0000000

	MULTIBOOT_KERNEL
main:
	PRINT "mmio", 10
	xor eax, eax
	mov al, [HOLE]
	PRINT "read "
	HEX eax, 8
	xor eax, eax
	mov ax, [HOLE + 2]
	PRINT " "
	HEX eax, 8
	mov eax, [HOLE + 0x1000]
	PRINT " "
	HEX eax, 8
	PRINT 10

	mov dword [HOLE], 0x12345678
	mov byte [HOLE + 0x10], 0
	mov eax, [HOLE]
	PRINT "after write "
	HEX eax, 8
	movzx eax, byte [HOLE + 0x10]
	PRINT " "
	HEX eax, 2
	PRINT 10

	mov dword [copy], 0
	mov dword [copy + 4], 0
	mov esi, HOLE + 0x100
	mov edi, copy
	mov ecx, 2
	rep movsd
	PRINT "rep movsd "
	HEX dword [copy], 8
	HEX dword [copy + 4], 8
	PRINT 10
	PRINT "mmio ok", 10
	EXIT 0x16

copy:	dd 0, 0

	SERIAL_LIB
	MULTIBOOT_END
