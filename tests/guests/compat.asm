; Compatibility mode: from 64-bit code a far call into a 32-bit code segment (L=0, D=1) of the
; same GDT, 32-bit code there (0x40/0x48 are INC/DEC, not REX; pushes are 4 bytes), a 32-bit
; far return back to 64-bit code.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 57
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	PRINT "compat", 10
	mov eax, 41
	mov edx, 7
	call far dword [rel compat_ptr]	; m16:32 far pointer: pushes 32-bit CS and EIP
	PRINT "back in 64-bit: eax "
	HEX rax, 8
	PRINT " edx "
	HEX rdx, 8
	PRINT " push size "
	HEX rcx, 2
	PRINT " cs "
	HEX rbx, 4
	PRINT 10
	mov ax, cs
	PRINT "cs "
	HEX rax, 4
	PRINT 10
	PRINT "compat ok", 10
	EXIT 0x1c

compat_ptr:
	dd compat_code
	dw SEL_CODE32

	bits 32
compat_code:
	db 0x40				; inc eax (a REX prefix in 64-bit mode)
	db 0x4a				; dec edx
	mov ecx, esp
	push eax
	sub ecx, esp			; 4: pushes are 32-bit
	pop eax
	xor ebx, ebx
	mov bx, cs
	retf				; 32-bit far return: pops EIP and CS
	bits 64

	SERIAL_LIB
	MULTIBOOT_END
