; Real mode: arithmetic, flags, string instructions, a far call into another code segment.
; vmon-kind: boot-sector
; vmon-args:
; vmon-exit: 33
; qemu: yes
%include "serial.inc"

	org 0x7c00
	bits 16
start:
	cli
	jmp 0:.cs0			; BIOSes differ in CS:IP (0:7c00 vs 7c0:0)
.cs0:	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov sp, 0x7c00
	cld
	PRINT "real mode", 10

	; 16-bit arithmetic: mul/div, carry chain, shifts
	mov ax, 1234
	mov bx, 56
	mul bx				; DX:AX = 69104
	HEX edx, 4
	HEX eax, 4
	mov cx, 1000
	div cx				; 69 rem 104
	PRINT " "
	HEX eax, 4
	PRINT " "
	HEX edx, 4
	mov ax, 0xffff
	add ax, 2
	adc dx, 0x7fff			; 0x68 + 0x7fff + CF, overflow into sign
	pushf
	pop ax
	and ax, 0x08d5			; OF SF ZF AF PF CF
	PRINT " "
	HEX edx, 4
	PRINT " "
	HEX eax, 4
	mov ax, 0x8001
	sar ax, 4
	rol ax, 8
	PRINT " "
	HEX eax, 4
	PRINT 10

	; string instructions with a segment other than 0: ES = 0x0050 -> linear 0x500
	mov ax, 0x0050
	mov es, ax
	mov si, hello
	xor di, di
	mov cx, hello_len
	rep movsb
	xor di, di
	mov al, 'w'
	mov cx, hello_len
	repne scasb			; finds 'w' at index 6
	mov ax, hello_len
	sub ax, cx
	HEX eax, 2
	push ds
	push es
	pop ds				; DS:SI = copy, ES:DI = original
	pop es
	xor si, si
	mov di, hello
	mov cx, hello_len
	repe cmpsb
	mov dx, cx			; 0: all equal
	mov ax, 0x0050
	mov es, ax
	xor di, di
	mov ax, 0x2121
	mov cx, 2
	rep stosw			; "!!!!" over the copy's first 4 bytes
	xor ax, ax
	mov ds, ax			; PRINT reads its string through DS
	PRINT " "
	HEX edx, 2
	PRINT " "
	mov ax, 0x0050
	mov ds, ax
	mov si, 2
	mov cx, hello_len - 2
.copy:	lodsb
	call serial_putc
	loop .copy
	xor ax, ax
	mov ds, ax
	mov es, ax
	PRINT 10

	; far call into a segment whose base is not 0: CS = 0x07c0, IP = far_fn - 0x7c00
	mov ax, 7
	call 0x07c0:(far_fn - 0x7c00)
	HEX eax, 4
	PRINT 10
	PRINT "real mode ok", 10
	EXIT 0x10

far_fn:					; runs with CS = 0x07c0; returns AX * 3 + CS
	mov bx, ax
	shl ax, 1
	add ax, bx
	mov bx, cs
	add ax, bx
	retf

hello:	db "hello world"
hello_len equ $ - hello

	SERIAL_LIB

	times 510 - ($ - $$) db 0
	dw 0xaa55
