; Hardware task switches in 32-bit protected mode: CALL to a TSS (the called task sees NT, its
; back link and both busy bits; its IRET returns and clears its busy bit), JMP through a task
; gate and back (no back link, the old busy bit cleared), #GP through a task gate (the handler
; task gets the error code on its stack and resumes the faulting task past the instruction),
; #GP(selector) for a CALL to the busy current task, #TS(selector) for a TSS limit below 0x67.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 93
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

NEWGDT		equ SCRATCH		; multiboot.inc's GDT, then the entries below
SEL_TSS_MAIN	equ 0x60
SEL_TSS_B	equ 0x68
SEL_TSS_GP	equ 0x70
SEL_TSS_SMALL	equ 0x78
SEL_GATE_B	equ 0x80		; task gate to SEL_TSS_B
GDT_LIMIT	equ 0x88 - 1
TSS_MAIN	equ SCRATCH + 0x1000
TSS_B		equ SCRATCH + 0x1100
TSS_GP		equ SCRATCH + 0x1200
TSS_SMALL	equ SCRATCH + 0x1300
TSS_EIP		equ 0x20
TSS_EFLAGS	equ 0x24
TSS_ESP		equ 0x38
TSS_ES		equ 0x48
NT		equ 1 << 14

; TSS_DESC selector, base, limit: an available 32-bit TSS descriptor, DPL 0.
%macro TSS_DESC 3
	mov dword [NEWGDT + %1], (((%2) << 16) & 0xffffffff) | (%3)
	mov dword [NEWGDT + %1 + 4], (((%2) >> 16) & 0xff) | 0x8900 | ((%2) & 0xff000000)
%endmacro

; TASK tss, entry, stack: a fresh task at entry with flat segments, IF clear.
%macro TASK 3
	mov edi, %1
	mov ecx, 0x68 / 4
	xor eax, eax
	rep stosd
	mov dword [%1 + TSS_EIP], %2
	mov dword [%1 + TSS_EFLAGS], 2
	mov dword [%1 + TSS_ESP], %3
	mov dword [%1 + TSS_ES], SEL_DATA
	mov dword [%1 + TSS_ES + 4], SEL_CODE32
	mov dword [%1 + TSS_ES + 8], SEL_DATA
	mov dword [%1 + TSS_ES + 12], SEL_DATA
	mov dword [%1 + TSS_ES + 16], SEL_DATA
	mov dword [%1 + TSS_ES + 20], SEL_DATA
%endmacro

; TYPE sel: EAX = the type byte of a GDT descriptor (0x89 available, 0x8b busy).
%macro TYPE 1
	movzx eax, byte [NEWGDT + %1 + 5]
%endmacro

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 10, ts_fault
	SET_HANDLER 13, gp_fault
	mov esi, gdt
	mov edi, NEWGDT
	mov ecx, gdt_end - gdt
	rep movsb
	TSS_DESC SEL_TSS_MAIN, TSS_MAIN, 0x67
	TSS_DESC SEL_TSS_B, TSS_B, 0x67
	TSS_DESC SEL_TSS_GP, TSS_GP, 0x67
	TSS_DESC SEL_TSS_SMALL, TSS_SMALL, 0x60
	mov dword [NEWGDT + SEL_GATE_B], SEL_TSS_B << 16
	mov dword [NEWGDT + SEL_GATE_B + 4], 0x8500
	lgdt [newgdt_desc]
	mov ax, SEL_TSS_MAIN
	ltr ax

	; CALL to TSS B; it returns with IRET.
	TASK TSS_B, task_b_call, 0x190000
	call SEL_TSS_B:0
	str ax
	movzx eax, ax
	PRINT "call: in b: tr "
	HEX [b_tr], 2
	PRINT " nt "
	HEX [b_nt], 1
	PRINT " link "
	HEX [TSS_B], 4
	PRINT " main "
	HEX [b_main_type], 2
	PRINT " b "
	HEX [b_b_type], 2
	PRINT 10
	PRINT "call: back: tr "
	HEX eax, 2
	pushfd
	pop eax
	shr eax, 14
	and eax, 1
	PRINT " nt "
	HEX eax, 1
	TYPE SEL_TSS_B
	PRINT " b "
	HEX eax, 2
	PRINT 10

	; JMP through the task gate; task B jumps back.
	TASK TSS_B, task_b_jmp, 0x190000
	mov dword [b_runs], 0
	jmp SEL_GATE_B:0
	PRINT "jmp: in b: main "
	HEX [b_main_type], 2
	PRINT " b "
	HEX [b_b_type], 2
	PRINT " nt "
	HEX [b_nt], 1
	TYPE SEL_TSS_B
	PRINT ", back: b "
	HEX eax, 2
	TYPE SEL_TSS_MAIN
	PRINT " main "
	HEX eax, 2
	PRINT 10

	; The busy current task: #GP(0x60).
	call SEL_TSS_MAIN:0
	PRINT "call to busy task: #GP "
	HEX [gp_err], 4
	PRINT 10
	; A TSS limit below 0x67: #TS(0x78).
	call SEL_TSS_SMALL:0
	PRINT "tss limit 0x60: #TS "
	HEX [ts_err], 4
	PRINT 10

	; #GP through a task gate.
	TASK TSS_GP, task_gp, 0x198000
	mov dword [IDT_ADDR + 13 * 8], SEL_TSS_GP << 16
	mov dword [IDT_ADDR + 13 * 8 + 4], 0x8500
	mov ax, 0x1238			; beyond the GDT limit
	mov ds, ax
	mov ax, SEL_DATA
	mov ds, ax
	PRINT "#GP task: error "
	HEX [gp_task_err], 4
	PRINT " link "
	HEX [TSS_GP], 4
	PRINT " tr "
	HEX [gp_task_tr], 2
	PRINT 10
	PRINT "tasks ok", 10
	EXIT 0x2e

task_b_call:
	call b_record
	iretd

task_b_jmp:
	call b_record
	jmp SEL_TSS_MAIN:0

b_record:
	str ax
	movzx eax, ax
	mov [b_tr], eax
	pushfd
	pop eax
	shr eax, 14
	and eax, 1
	mov [b_nt], eax
	TYPE SEL_TSS_MAIN
	mov [b_main_type], eax
	TYPE SEL_TSS_B
	mov [b_b_type], eax
	ret

; The #GP task: its stack holds the error code; the faulting task resumes past the 2-byte
; instruction (MOV DS, AX).
task_gp:
	pop eax
	mov [gp_task_err], eax
	str ax
	movzx eax, ax
	mov [gp_task_tr], eax
	add dword [TSS_MAIN + TSS_EIP], 2
	iretd

; #GP and #TS through interrupt gates: skip the 7-byte CALL ptr16:32.
gp_fault:
	mov eax, [ebx + FRAME_ERR]
	mov [gp_err], eax
	add dword [ebx + FRAME_IP], 7
	ret

ts_fault:
	mov eax, [ebx + FRAME_ERR]
	mov [ts_err], eax
	add dword [ebx + FRAME_IP], 7
	ret

newgdt_desc:
	dw GDT_LIMIT
	dd NEWGDT
b_tr:		dd 0
b_nt:		dd 0
b_main_type:	dd 0
b_b_type:	dd 0
b_runs:		dd 0
gp_err:		dd 0
ts_err:		dd 0
gp_task_err:	dd 0
gp_task_tr:	dd 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
