; A ring 3 excursion in long mode: TSS with RSP0 and IST1, SYSCALL/SYSRET (STAR, LSTAR, SFMASK,
; EFER.SCE), `int 0x80` through a DPL 3 gate, #GP for CLI/HLT, #PF (user bit) on a supervisor
; page, int3 on the IST1 stack, IRETQ back each time. (`int` through a DPL 0 gate is left out:
; QEMU TCG reports #GP error code vector * 16 + 2 in long mode, hardware vector * 8 + 2.)
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 41
; kvm-needs: syscall-ring3 int3-cpl0
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"

TSS_ADDR	equ 0x1c0000
RSP0_TOP	equ 0x1c8000		; kernel stack for ring 3 interrupts and syscalls
IST1_TOP	equ 0x1d0000
USER_STACK_TOP	equ 0x1d8000
SUPER_PAGE	equ 0x6000		; made supervisor-only
MSR_STAR	equ 0xc0000081
MSR_LSTAR	equ 0xc0000082
MSR_SFMASK	equ 0xc0000084
RFLAGS_DF	equ 1 << 10
SYS_PRINT	equ 1
SYS_EXIT	equ 2

; FRAME_ON_STACK top: ZF=1 if the frame (rbx) lies in the 4 KiB below top. Clobbers rax.
%macro FRAME_ON_STACK 1
	mov rax, rbx
	sub rax, %1 - 4096
	cmp rax, 4096
	setb al
	cmp al, 1
%endmacro

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER 3, bp_trap
	SET_HANDLER 13, gp_fault
	SET_HANDLER 14, pf_fault
	SET_HANDLER 0x80, int80
	GATE_ATTR 3, 3, 1		; int3 allowed from ring 3, runs on IST1
	GATE_ATTR 0x80, 3, 0

	LOAD_TSS TSS_ADDR, RSP0_TOP, IST1_TOP

	mov ecx, MSR_EFER
	rdmsr
	or eax, EFER_SCE
	wrmsr
	mov ecx, MSR_STAR
	xor eax, eax
	mov edx, (SEL_USER_BASE << 16) | SEL_CODE64
	wrmsr
	mov ecx, MSR_LSTAR
	mov eax, syscall_entry
	xor edx, edx
	wrmsr
	mov ecx, MSR_SFMASK
	mov eax, RFLAGS_DF | (1 << 9) | (1 << 8)	; DF, IF, TF
	wrmsr

	and qword [PT + (SUPER_PAGE >> 12) * 8], ~PTE_U
	invlpg [SUPER_PAGE]

	PRINT "ring 0: entering ring 3", 10
	push SEL_UDATA | 3
	push USER_STACK_TOP
	push 0x2			; RFLAGS: IF off (nothing may interrupt)
	push SEL_UCODE64 | 3
	push user_main
	iretq

; ---- ring 3 ----------------------------------------------------------------------------------
; USER_PRINT "text": print through the SYS_PRINT syscall (clobbers rax, rsi, rcx, r11).
%macro USER_PRINT 1+
	jmp %%code
%%str:	db %1, 0
%%code:	mov eax, SYS_PRINT
	lea rsi, [rel %%str]
	syscall
%endmacro

; UFAULT insn: the instruction must fault; the kernel handler resumes after it.
%macro UFAULT 1+
	mov qword [resume_rip], %%next
	%1
%%next:
%endmacro

user_main:
	std
	USER_PRINT "hello from ring 3"
	pushfq
	pop rax
	test eax, RFLAGS_DF
	jnz .df_ok
	USER_PRINT "DF lost by sysret"
.df_ok:	cld

	mov eax, 0x1234
	int 0x80
	cmp eax, 0x5678
	je .int80_ok
	USER_PRINT "int 0x80 returned the wrong value"
.int80_ok:
	USER_PRINT "int 0x80 returned"

	UFAULT cli
	UFAULT hlt
	UFAULT mov al, [SUPER_PAGE]
	int3
	USER_PRINT "back from int3"
	mov eax, SYS_EXIT
	syscall
	ud2

; ---- ring 0 handlers -------------------------------------------------------------------------
syscall_entry:
	mov [user_rsp], rsp
	mov rsp, RSP0_TOP
	push rcx
	push r11
	cmp eax, SYS_EXIT
	je .exit
	PRINT "syscall: user df="
	mov rcx, r11
	shr rcx, 10
	and ecx, 1
	HEX rcx, 1
	PRINT " kernel df="
	pushfq
	pop rcx
	shr rcx, 10
	and ecx, 1
	HEX rcx, 1
	PRINT ": "
	call serial_puts
	PRINT 10
	pop r11
	pop rcx
	mov rsp, [user_rsp]
	o64 sysret
.exit:	PRINT "ring 0: ring 3 exited", 10
	PRINT "ring3 ok", 10
	EXIT 0x14

; "from cpl N" for the frame at rbx.
print_cpl:
	PRINT " from cpl "
	mov rax, [rbx + FRAME_CS]
	and eax, 3
	HEX rax, 1
	ret

int80:
	PRINT "int 0x80 rax="
	HEX [rbx + FRAME_AX], 4
	call print_cpl
	FRAME_ON_STACK RSP0_TOP
	jne .bad
	PRINT " on rsp0 stack", 10
	mov qword [rbx + FRAME_AX], 0x5678
	ret
.bad:	PRINT " not on rsp0 stack", 10
	EXIT EXIT_FAIL

bp_trap:
	PRINT "#BP"
	call print_cpl
	FRAME_ON_STACK IST1_TOP
	jne .bad
	PRINT " on ist1 stack", 10
	ret
.bad:	PRINT " not on ist1 stack", 10
	EXIT EXIT_FAIL

gp_fault:
	PRINT "#GP err="
	HEX [rbx + FRAME_ERR], 4
	call print_cpl
	PRINT 10
	jmp resume

pf_fault:
	PRINT "#PF err="
	HEX [rbx + FRAME_ERR], 2
	PRINT " cr2="
	mov rax, cr2
	HEX rax, 8
	call print_cpl
	PRINT 10
resume:	mov rax, [rbx + FRAME_CS]
	test al, 3
	jz .kernel
	mov rax, [resume_rip]
	mov [rbx + FRAME_IP], rax
	ret
.kernel:
	PRINT "fault in ring 0", 10
	EXIT EXIT_FAIL

user_rsp:	dq 0
resume_rip:	dq 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
