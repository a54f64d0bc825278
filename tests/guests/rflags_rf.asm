; RFLAGS.RF in the frames of 32-bit protected-mode exceptions: faults (#UD, #DE, #GP) push it
; set, traps (INT3, INTO, INT n) push it clear; after an IRET that loads RF=1, RF is gone again
; once the next instruction has run (an INT3 right after it pushes RF clear). The same in long
; mode (the 16-byte-gate delivery path): #UD and #GP set, INT3 clear, IRETQ with RF=1.
; vmon-only: QEMU TCG never sets RF in a fault's frame and keeps RF after the next instruction.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 81
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"
%include "longmode.inc"

RF		equ 1 << 16

; RECORD n: the RF bit of the last frame into result n (printed at the end, from 64-bit code:
; the serial routines exist once, for long mode).
%macro RECORD 1
	mov eax, [last_flags]
	shr eax, 16
	and eax, 1
	mov [results + %1], al
%endmacro

; REPORT n, "name" (64-bit): prints name and result n.
%macro REPORT 2
	PRINT %2, " rf "
	movzx eax, byte [results + %1]
	HEX rax, 1
	PRINT 10
%endmacro

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 0, fault_skip2		; #DE: div ecx is 2 bytes
	SET_HANDLER 6, fault_skip2		; #UD: ud2
	SET_HANDLER 13, fault_skip2		; #GP: mov ds, ax is 2 bytes
	SET_HANDLER 3, trap
	SET_HANDLER 4, trap
	SET_HANDLER 0x40, trap

	ud2
	RECORD 0
	xor edx, edx
	mov eax, 1
	xor ecx, ecx
	div ecx
	RECORD 1
	mov ax, 0x1238			; beyond the GDT limit
	mov ds, ax
	RECORD 2
	int3
	RECORD 3
	mov al, 0x7f
	add al, 1			; OF
	into
	RECORD 4
	int 0x40
	RECORD 5

	; IRET with RF=1 in the popped EFLAGS, then one NOP, then INT3.
	pushfd
	or dword [esp], RF
	push cs
	push .target
	iretd
.target:
	nop
	int3
	RECORD 6
	ENTER_LONG_MODE long_main

	bits 64
long_main:
	mov rdi, IDT_ADDR		; 16-byte gates for the handlers below
	mov esi, 6
	mov rax, lm_ud
	call lm_gate
	mov esi, 13
	mov rax, lm_gp
	call lm_gate
	mov esi, 3
	mov rax, lm_trap
	call lm_gate
	lidt [lm_idt_desc]

	ud2
	RECORD 7
	mov rax, 0x8000000000000000	; non-canonical
	mov rax, [rax]			; 3 bytes
	RECORD 8
	int3
	RECORD 9
	mov rax, rsp
	push SEL_DATA
	push rax
	pushfq
	or qword [rsp], RF
	push SEL_CODE64
	push .target64
	iretq
.target64:
	nop
	int3
	RECORD 10
	REPORT 0, "#UD"
	REPORT 1, "#DE"
	REPORT 2, "#GP"
	REPORT 3, "int3"
	REPORT 4, "into"
	REPORT 5, "int 0x40"
	REPORT 6, "int3 after iret rf=1, nop"
	REPORT 7, "64-bit #UD"
	REPORT 8, "64-bit #GP"
	REPORT 9, "64-bit int3"
	REPORT 10, "64-bit int3 after iretq rf=1, nop"
	PRINT "rflags rf ok", 10
	EXIT 0x28

; ESI = vector, RAX = handler: a 64-bit interrupt gate.
lm_gate:
	shl esi, 4
	mov edx, eax
	and edx, 0xffff
	or edx, SEL_CODE64 << 16
	mov [rdi + rsi], edx
	mov edx, eax
	and edx, 0xffff0000
	or edx, 0x8e00
	mov [rdi + rsi + 4], edx
	mov qword [rdi + rsi + 8], 0
	ret

; #UD (ud2, 2 bytes) and #GP (the 3-byte load, with an error code): skipped, RF cleared.
lm_ud:
	mov rax, [rsp + 16]
	mov [last_flags], eax
	and qword [rsp + 16], ~RF
	add qword [rsp], 2
	iretq

lm_gp:
	add rsp, 8			; the error code
	mov rax, [rsp + 16]
	mov [last_flags], eax
	and qword [rsp + 16], ~RF
	add qword [rsp], 3
	iretq

lm_trap:
	mov rax, [rsp + 16]
	mov [last_flags], eax
	iretq

lm_idt_desc:
	dw 256 * 16 - 1
	dq IDT_ADDR
	bits 32

; Faults: record the flags, skip the 2-byte faulting instruction, return with RF clear.
fault_skip2:
	mov eax, [ebx + FRAME_FLAGS]
	mov [last_flags], eax
	and dword [ebx + FRAME_FLAGS], ~RF
	add dword [ebx + FRAME_IP], 2
	ret

trap:
	mov eax, [ebx + FRAME_FLAGS]
	mov [last_flags], eax
	ret

last_flags:	dd 0
results:	times 16 db 0xff

	IDT_LIB
	bits 64
	SERIAL_LIB
	MULTIBOOT_END
