; Fault details QEMU TCG gets wrong, expected values from the Intel SDM (so vmon-only):
; a non-canonical address through RBP (SS segment) is #SS(0), not #GP; `int n` from ring 3 through
; a DPL 0 gate is #GP with error code n * 8 + 2 (IDT bit), not n * 16 + 2.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 61
; kvm-needs: int-gate-dpl
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"

TSS_ADDR	equ 0x1c0000
RSP0_TOP	equ 0x1c8000
USER_STACK_TOP	equ 0x1d8000

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER 12, ss_fault
	SET_HANDLER 13, gp_fault
	LOAD_TSS TSS_ADDR, RSP0_TOP, RSP0_TOP
	PRINT "architectural fault details", 10

	mov rbp, 0x8000000000000000
	mov qword [resume_rip], .after_ss
	mov rax, [rbp + 8]
.after_ss:

	push SEL_UDATA | 3
	push USER_STACK_TOP
	push 0x2
	push SEL_UCODE64 | 3
	push user_main
	iretq

user_main:
	int 0x81			; gate DPL 0 < CPL 3
	ud2

ss_fault:
	PRINT "#SS err="
	HEX [rbx + FRAME_ERR], 4
	PRINT 10
	mov rax, [resume_rip]
	mov [rbx + FRAME_IP], rax
	ret

gp_fault:
	PRINT "#GP err="
	HEX [rbx + FRAME_ERR], 4
	PRINT " from cpl "
	mov rax, [rbx + FRAME_CS]
	and eax, 3
	HEX rax, 1
	PRINT 10
	PRINT "architectural fault details ok", 10
	EXIT 0x1e

resume_rip:	dq 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
