; Port I/O: the 8250 scratch register keeps what is written (byte OUT/IN, immediate and DX
; forms, REP INSB), an unclaimed port reads all-ones at every width, REP OUTSB to the serial port.
; vmon-kind: boot-sector
; vmon-args:
; vmon-exit: 43
; qemu: yes
%include "serial.inc"

SCRATCH_PORT	equ COM1 + 7
UNCLAIMED_PORT	equ 0x2f0

	org 0x7c00
	bits 16
start:
	cli
	jmp 0:.cs0
.cs0:	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov sp, 0x7c00
	cld
	PRINT "port io", 10

	mov dx, SCRATCH_PORT
	mov al, 0x5a
	out dx, al
	xor eax, eax
	in al, dx
	PRINT "scratch "
	HEX eax, 2
	mov al, 0xc3
	out dx, al
	mov di, buf
	mov cx, 4
	rep insb
	PRINT " insb "
	HEX dword [buf], 8
	PRINT 10

	mov dx, UNCLAIMED_PORT
	xor eax, eax
	in al, dx
	PRINT "unclaimed "
	HEX eax, 8
	xor eax, eax
	in ax, dx
	PRINT " "
	HEX eax, 8
	xor eax, eax
	in eax, dx
	PRINT " "
	HEX eax, 8
	in al, 0xe0			; immediate form (nothing at 0xe0 either)
	PRINT " "
	HEX eax, 2
	PRINT 10

	mov dx, COM1
	mov si, line
	mov cx, line_len
	rep outsb
	PRINT "port io ok", 10
	EXIT 0x15

line:	db "rep outsb reached the console", 10
line_len equ $ - line
buf:	dd 0

	SERIAL_LIB

	times 510 - ($ - $$) db 0
	dw 0xaa55
