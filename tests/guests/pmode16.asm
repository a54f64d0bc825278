; 16-bit protected mode: a far call from 32-bit code into a 16-bit code segment (D=0: 16-bit
; operands and pushes, 0x66 selects 32-bit), a 16-bit data segment, #UD raised in 16-bit code,
; handled through a 32-bit interrupt gate and resumed there, a 32-bit far return.
; (Segment limit violations are in seglimit.asm: QEMU TCG does not check limits.)
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 63
; kvm-needs: iretd-cpl0
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

CODE16_ADDR	equ 0x7000		; SEL_CODE16 has base 0 and a 64 KiB limit
%define C16(label) (CODE16_ADDR + (label) - code16)

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 6, ud_fault
	PRINT "16-bit protected mode", 10
	mov esi, code16
	mov edi, CODE16_ADDR
	mov ecx, code16_end - code16
	rep movsb

	mov eax, 0x12340000
	call SEL_CODE16:CODE16_ADDR
	PRINT "back in 32-bit: eax "
	HEX eax, 8
	PRINT " push size "
	HEX ecx, 1
	PRINT " cs "
	HEX edx, 4
	PRINT " byte "
	HEX ebx, 2
	PRINT " #UD seen "
	HEX dword [ud_count], 1
	PRINT 10
	PRINT "16-bit protected mode ok", 10
	EXIT 0x1f

ud_fault:
	inc dword [ud_count]
	PRINT "#UD in cs "
	HEX [ebx + FRAME_CS], 4
	PRINT " ip "
	HEX [ebx + FRAME_IP], 4
	PRINT 10
	mov dword [ebx + FRAME_IP], C16(code16.resume)
	ret

ud_count:	dd 0

	bits 16
code16:
	mov ax, 0xfffe
	add ax, 3			; 16-bit wrap: AX = 1, upper EAX half untouched
	mov ecx, esp
	push ax
	sub ecx, esp			; 2: pushes are 16-bit
	pop ax
	mov dx, SEL_DATA16
	mov ds, dx
	mov dx, cs
	movzx ebx, byte [C16(code16)]	; through the 16-bit data segment
	ud2
.resume:
	mov si, SEL_DATA
	mov ds, si
	o32 retf			; the far call pushed 32-bit CS:EIP
code16_end:
	bits 32

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
