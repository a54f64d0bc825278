; Exceptions through the long-mode IDT: #DE, #UD, #GP (non-canonical address), #PF (not
; present, read and write, and a write to a read-only page with CR0.WP: CR2 and error code),
; #BP.
; The handler prints the vector and error code, checks the saved RIP (the faulting instruction, or the next one
; for the int3 trap) and resumes after the instruction.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 39
; kvm-needs: int3-cpl0
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"

UNMAPPED	equ 0x40000000		; PDPT[1] is not present

; FAULT insn...: run the instruction(s), which must raise an exception handled by `report`.
%macro FAULT 1+
	mov qword [fault_rip], %%insn
	mov qword [resume_rip], %%next
%%insn:	%1
%%next:
%endmacro

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER 0, report
	SET_HANDLER 3, report
	SET_HANDLER 6, report
	SET_HANDLER 13, report
	SET_HANDLER 14, report
	PRINT "exceptions", 10

	mov eax, 10
	xor ecx, ecx
	FAULT div ecx
	FAULT ud2
	mov rax, 0x0000800000000000	; first non-canonical address
	FAULT mov rbx, [rax]
	FAULT mov rax, [UNMAPPED + 0x123]
	FAULT mov byte [UNMAPPED + 0x2004], 1
	FAULT int3
	and qword [PT + 5 * 8], ~PTE_W	; page 0x5000 read-only
	invlpg [0x5000]
	mov rax, cr0
	or eax, 1 << 16			; WP: supervisor writes honour R/W
	mov cr0, rax
	FAULT mov byte [0x5004], 1
	PRINT "exceptions ok", 10
	EXIT 0x13

; Prints "vec V [err E] [cr2 A] rip ok|BAD" and resumes after the faulting instruction.
report:
	PRINT "vec "
	HEX [rbx + FRAME_VEC], 2
	mov rax, [rbx + FRAME_VEC]
	cmp al, 13
	jb .no_err
	PRINT " err "
	HEX [rbx + FRAME_ERR], 4
.no_err:
	cmp al, 14
	jne .no_cr2
	PRINT " cr2 "
	mov rax, cr2
	HEX rax, 16
.no_cr2:
	mov rax, [fault_rip]
	cmp qword [rbx + FRAME_VEC], 3	; int3 is a trap: RIP is already past it
	jne .check
	mov rax, [resume_rip]
.check:	cmp rax, [rbx + FRAME_IP]
	je .rip_ok
	PRINT " rip BAD", 10
	EXIT EXIT_FAIL
.rip_ok:
	PRINT " rip ok", 10
	mov rax, [resume_rip]
	mov [rbx + FRAME_IP], rax
	ret

fault_rip:	dq 0
resume_rip:	dq 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
