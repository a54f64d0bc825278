; Segment limits in 32-bit protected mode: a 4 KiB data segment (last byte fine, a dword
; straddling the limit and the byte past it #GP(0)), an expand-down segment (offsets up to the
; limit #GP(0), above it fine), a stack segment whose limit violation is #SS(0).
; vmon-only: QEMU TCG does not check segment limits.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 65
; kvm-needs: iretd-cpl0
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

SEL_SMALL	equ 0x18		; base SCRATCH, limit 0xfff
SEL_EXPDOWN	equ 0x20		; expand-down, limit 0xfff: valid 0x1000-0xffffffff
SEL_STACK	equ 0x28		; base 0, limit 2 MiB - 1 (holds STACK_TOP)

; FAULT insn: the instruction must fault; the handler resumes after it.
%macro FAULT 1+
	mov dword [resume_eip], %%next
	%1
%%next:
%endmacro

	MULTIBOOT_KERNEL
main:
	lgdt [limit_gdt_desc]		; same code/data selectors as the common GDT, plus ours
	call idt_init
	SET_HANDLER 12, report
	SET_HANDLER 13, report
	PRINT "segment limits", 10

	mov dword [SCRATCH + 0xffc], 0x44332211
	mov ax, SEL_SMALL
	mov fs, ax
	mov al, [fs:0xfff]
	PRINT "last byte "
	HEX eax, 2
	PRINT 10
	FAULT mov eax, [fs:0xffe]
	FAULT mov al, [fs:0x1000]

	mov ax, SEL_EXPDOWN
	mov gs, ax
	FAULT mov al, [gs:0x800]
	mov eax, [gs:SCRATCH + 0xffc]
	PRINT "expand-down "
	HEX eax, 8
	PRINT 10

	mov ax, SEL_STACK
	mov ss, ax
	mov ebp, 0x200000
	FAULT mov al, [ebp]
	mov ax, SEL_DATA
	mov ss, ax
	PRINT "segment limits ok", 10
	EXIT 0x20

report:
	PRINT "vec "
	HEX [ebx + FRAME_VEC], 2
	PRINT " err "
	HEX [ebx + FRAME_ERR], 4
	PRINT 10
	mov eax, [resume_eip]
	mov [ebx + FRAME_IP], eax
	ret

resume_eip:	dd 0

	align 8
limit_gdt:
	dq 0
	dq 0x00cf9a000000ffff		; 0x08 code32, flat
	dq 0x00cf92000000ffff		; 0x10 data, flat
	dq 0x0040920000000fff | ((SCRATCH & 0xffffff) << 16)	; 0x18
	dq 0x0040960000000fff		; 0x20 expand-down, B=1, byte granular
	dq 0x00c09200000001ff | (1 << 55)	; 0x28 G=1: limit 0x1ff pages
limit_gdt_end:
limit_gdt_desc:
	dw limit_gdt_end - limit_gdt - 1
	dd limit_gdt

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
