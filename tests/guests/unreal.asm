; Real-mode segment corner cases: 16-bit offsets wrap within the segment (LODSB at SI = 0xffff
; continues at offset 0), FFFF:0010 reaches
; linear 1 MiB (A20 on, as after any BIOS), and "unreal mode": a 4 GiB limit loaded in protected
; mode stays in FS's descriptor cache after returning to real mode.
; vmon-kind: boot-sector
; vmon-args:
; vmon-exit: 59
; qemu: yes
%include "serial.inc"

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
	PRINT "real mode segments", 10

	mov byte [0x0000], 0x5a		; linear 0 (IVT entry 0, unused: interrupts are off)
	mov byte [0xffff], 0xa5
	mov si, 0xffff
	lodsb				; reads DS:FFFF, SI wraps to 0
	mov bl, al
	lodsb				; reads DS:0000
	PRINT "wrap "
	HEX ebx, 2
	HEX eax, 2
	PRINT " si "
	HEX esi, 4
	PRINT 10

	mov ax, 0xffff			; FFFF:0010 = linear 0x100000
	mov es, ax
	mov dword [es:0x10], 0x11223344
	xor ax, ax
	mov es, ax

	lgdt [gdt_desc]			; unreal mode: load FS with a 4 GiB limit...
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp 0x08:.pm
.pm:	mov ax, 0x10
	mov fs, ax
	mov eax, cr0
	and al, ~1			; ...and go back to real mode without reloading it
	mov cr0, eax
	jmp 0:.real
.real:	mov edi, 0x100000
	mov eax, [fs:edi]		; 32-bit offset beyond 64 KiB
	PRINT "unreal "
	HEX eax, 8
	mov dword [fs:edi + 4], 0x55667788
	mov ax, 0xffff
	mov es, ax
	mov eax, [es:0x14]
	PRINT " "
	HEX eax, 8
	PRINT 10
	PRINT "real mode segments ok", 10
	EXIT 0x1d

	align 8
gdt:	dq 0
	dq 0x00009a000000ffff		; 0x08 code16, base 0, 64 KiB
	dq 0x00cf92000000ffff		; 0x10 data, 4 GiB
gdt_end:
gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt

	SERIAL_LIB

	times 510 - ($ - $$) db 0
	dw 0xaa55
