; Real mode to 32-bit protected mode from a boot sector: own GDT, CR0.PE, far jump, flat
; segments, then 32-bit code (addressing modes, 32-bit arithmetic, bit scans, a segment with a
; non-zero base).
; vmon-kind: boot-sector
; vmon-args:
; vmon-exit: 35
; qemu: yes
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
	lgdt [gdt_desc]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp dword 0x08:pm32

	bits 32
pm32:	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, 0x90000
	PRINT "protected mode", 10
	mov eax, cr0
	HEX eax, 1			; PE
	mov ax, cs
	PRINT " cs="
	HEX eax, 2
	PRINT 10

	; 32-bit arithmetic and addressing: base + index * scale + displacement
	mov ebx, table
	mov ecx, 3
	mov eax, [ebx + ecx * 4 - 4]	; table[2]
	imul eax, eax, -3
	HEX eax, 8
	mov edx, 0x12345678
	bswap edx
	PRINT " "
	HEX edx, 8
	bsf eax, [table + 4]
	bsr ecx, [table + 4]
	PRINT " "
	HEX eax, 2
	HEX ecx, 2
	mov eax, 0xfedcba98
	mov edx, 0x0000ffff
	shld edx, eax, 8		; edx = 0x00fffffe
	PRINT " "
	HEX edx, 8
	movsx eax, byte [table + 8]
	PRINT " "
	HEX eax, 8
	PRINT 10

	; a data segment with base 0x1000: [fs:0] is linear 0x1000
	mov dword [0x1000], 0xcafef00d
	mov ax, 0x18
	mov fs, ax
	mov eax, [fs:0]
	HEX eax, 8
	PRINT 10
	PRINT "protected mode ok", 10
	EXIT 0x11

table:	dd 0x11111111, 0x00f0f000, 0x8000fffe

	align 8
gdt:	dq 0
	dq 0x00cf9a000000ffff		; 0x08 code32, flat
	dq 0x00cf92000000ffff		; 0x10 data, flat
	dq 0x00cf92001000ffff		; 0x18 data, base 0x1000
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

	SERIAL_LIB

	times 510 - ($ - $$) db 0
	dw 0xaa55
