; Every system call number 0..1023, with pseudo-random arguments, made from pseudo-random places
; in user memory (a `syscall; ret` stub copied to a random page and offset each time), then
; `int 0x80` likewise: each must reach this guest kernel, whose answer is a function of the
; number and the first argument. Under the bt engine's direct execution guest code runs natively
; on the host: a call that reached the host kernel instead would return something else (and the
; host's answer to e.g. getpid differs from this kernel's). The output must be identical under
; --user-mode bt and direct (tests/integration/direct.sh).
; kvm-needs: syscall-ring3
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 41
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"
%include "linuxuser.inc"

STUB_AREA	equ 0x400000		; 1 MiB of 2 MiB pages the stubs go to
SYS_REPORT	equ 0x10001		; above the numbers tried: print rsi (hex), rdx (hex)
SYS_EXIT	equ 0x10002
NR_CALLS	equ 1024

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER 0x80, int80
	GATE_ATTR 0x80, 3, 0
	LOAD_TSS TSS_ADDR, RSP0_TOP, RSP0_TOP
	LINUX_USER_SETUP syscall_entry
	PRINT "ring 0: entering ring 3", 10
	LINUX_USER_ENTER user_main, USER_STACK_TOP

; ---- ring 3 ----------------------------------------------------------------------------------
; xorshift64 in r15 -> rax
%macro RAND 0
	mov rax, r15
	shl rax, 13
	xor r15, rax
	mov rax, r15
	shr rax, 7
	xor r15, rax
	mov rax, r15
	shl rax, 17
	xor r15, rax
	mov rax, r15
%endmacro

; STUB rbx <- a random address in STUB_AREA holding `syscall; ret` (or `int 0x80; ret`: %1 = 1)
%macro STUB 1
	RAND
	and eax, 0xffff0		; 1 MiB, 16-byte steps
	lea rbx, [rax + STUB_AREA]
%if %1
	mov word [rbx], 0x80cd
%else
	mov word [rbx], 0x050f
%endif
	mov byte [rbx + 2], 0xc3
%endmacro

user_main:
	mov r15, 0x9e3779b97f4a7c15
	xor r14d, r14d			; answers folded
	xor r13d, r13d			; wrong answers
	xor r12d, r12d			; the number
.call:	STUB 0
	RAND
	mov rdi, rax
	RAND
	mov rsi, rax
	RAND
	mov rdx, rax
	RAND
	mov r10, rax
	RAND
	mov r8, rax
	RAND
	mov r9, rax
	mov rax, r12
	mov rbp, rdi
	call rbx
	mov rcx, r12
	not rcx
	xor rcx, rbp			; this kernel's answer: ~nr ^ arg0
	cmp rax, rcx
	je .right
	inc r13
.right:	rol r14, 5
	xor r14, rax
	inc r12
	cmp r12, NR_CALLS
	jb .call

	xor r12d, r12d
.int80:	STUB 1
	RAND
	mov rbp, rax
	mov rdi, rax
	mov rax, r12
	call rbx
	mov rcx, r12
	xor rcx, 0x40404040
	xor rcx, rbp			; int 0x80's answer: nr ^ 0x40404040 ^ arg0
	cmp rax, rcx
	je .right80
	inc r13
.right80:
	rol r14, 5
	xor r14, rax
	inc r12
	cmp r12, 64
	jb .int80

	mov rsi, r14
	mov rdx, r13
	mov eax, SYS_REPORT
	syscall
	mov eax, SYS_EXIT
	syscall
	ud2

; ---- ring 0 ----------------------------------------------------------------------------------
syscall_entry:
	cmp rax, SYS_REPORT
	je .report
	cmp rax, SYS_EXIT
	je .exit
	not rax
	xor rax, rdi
	o64 sysret
.report:
	mov [user_rsp], rsp
	mov rsp, RSP0_TOP
	push rcx
	PRINT "answers folded "
	HEX rsi, 16
	PRINT ", wrong answers "
	HEX rdx, 4
	PRINT 10
	pop rcx
	mov rsp, [user_rsp]
	o64 sysret
.exit:	PRINT "usersyscall ok", 10
	EXIT 0x14

int80:
	mov rax, [rbx + FRAME_AX]
	xor rax, 0x40404040
	xor rax, [rbx + 8 * 8]		; the frame's rdi
	mov [rbx + FRAME_AX], rax
	ret

	align 8
user_rsp:	dq 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
