; 64-bit user mode with Linux's selectors (CS 0x33, SS 0x2b, SYSRET from STAR 0x20, IF set):
; what the bt engine's direct execution runs natively (tests/integration/direct.sh runs it with
; --user-mode bt and direct and wants the same output). In ring 3: a compute loop, syscalls
; (registers and SSE state preserved across them), a #PF on a not-present page that the kernel
; fixes, a write to a read-only page made writable, stores over 2 MiB pages, #GP (HLT), #UD,
; #DE, int3, CPUID compared with ring 0's, and RDTSC advancing.
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

RO_PAGE		equ 0x1e0000		; user, read-only until the #PF handler allows writes
NP_PAGE		equ 0x1f0000		; not present until the #PF handler maps it
BIG_AREA	equ 0x400000		; 2 MiB pages of longmode.inc
SYS_PRINT	equ 1
SYS_HEX		equ 2
SYS_EXIT	equ 3

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER 0, fault
	SET_HANDLER 3, bp_trap
	SET_HANDLER 6, fault
	SET_HANDLER 13, fault
	SET_HANDLER 14, pf_fault
	GATE_ATTR 3, 3, 0
	LOAD_TSS TSS_ADDR, RSP0_TOP, RSP0_TOP

	LINUX_USER_SETUP syscall_entry

	; RO_PAGE user read-only, NP_PAGE not present
	mov byte [RO_PAGE], 0x11
	and qword [PT + (RO_PAGE >> 12) * 8], ~PTE_W
	mov qword [PT + (NP_PAGE >> 12) * 8], 0
	invlpg [RO_PAGE]
	invlpg [NP_PAGE]

	; CPUID leaves 0 and 1 as ring 0 sees them
	xor eax, eax
	cpuid
	mov [cpuid0], eax
	mov [cpuid0 + 4], ebx
	mov [cpuid0 + 8], ecx
	mov [cpuid0 + 12], edx
	mov eax, 1
	cpuid
	mov [cpuid0 + 16], eax
	mov [cpuid0 + 20], ebx
	mov [cpuid0 + 24], ecx
	mov [cpuid0 + 28], edx

	PRINT "ring 0: entering ring 3", 10
	LINUX_USER_ENTER user_main, USER_STACK_TOP

; ---- ring 3 ----------------------------------------------------------------------------------
%macro USER_PRINT 1+
	jmp %%code
%%str:	db %1, 0
%%code:	mov eax, SYS_PRINT
	lea rsi, [rel %%str]
	syscall
%endmacro

; USER_HEX value: print a 64-bit value and a newline (clobbers rax, rsi, rcx, r11).
%macro USER_HEX 1
	mov rsi, %1
	mov eax, SYS_HEX
	syscall
%endmacro

%macro UFAULT 1+
	mov qword [resume_rip], %%next
	%1
%%next:
%endmacro

user_main:
	USER_PRINT "hello from ring 3"

	; a compute loop (an LCG folded into rbx)
	mov ecx, 3000000
	xor ebx, ebx
	mov eax, 1
	mov r8, 6364136223846793005
	mov r9, 1442695040888963407
.lcg:	imul rax, r8
	add rax, r9
	mov rdx, rax
	shr rdx, 33
	xor rbx, rdx
	dec ecx
	jnz .lcg
	USER_PRINT "compute:"
	USER_HEX rbx

	; registers and SSE state across a syscall
	mov r12, 0x1212121212121212
	mov r13, 0x1313131313131313
	mov r14, 0x1414141414141414
	mov r15, 0x1515151515151515
	mov rbp, 0x0b0b0b0b0b0b0b0b
	mov rax, 0x0123456789abcdef
	movq xmm3, rax
	USER_PRINT "registers across a syscall:"
	mov rax, 0x1212121212121212
	cmp r12, rax
	jne .regbad
	mov rax, 0x1515151515151515
	cmp r15, rax
	jne .regbad
	mov rax, 0x0b0b0b0b0b0b0b0b
	cmp rbp, rax
	jne .regbad
	movq rax, xmm3
	mov rdx, 0x0123456789abcdef
	cmp rax, rdx
	jne .regbad
	USER_PRINT "kept"
	jmp .regok
.regbad:
	USER_PRINT "LOST"
.regok:

	; not-present page: the kernel maps it, the store is re-executed
	mov rax, 0x1122334455667788
	mov [NP_PAGE + 8], rax
	mov rbx, [NP_PAGE + 8]
	USER_PRINT "np page:"
	USER_HEX rbx

	; read-only page: readable, then writable after the #PF
	movzx ebx, byte [RO_PAGE]
	mov byte [RO_PAGE], 0x5a
	movzx eax, byte [RO_PAGE]
	shl ebx, 8
	or ebx, eax
	USER_PRINT "ro page:"
	USER_HEX rbx

	; stores and loads over 2 MiB pages (64 pages, fault-around)
	mov edi, BIG_AREA
	mov ecx, 64
.fill:	mov [rdi], rdi
	add rdi, 4096
	dec ecx
	jnz .fill
	mov edi, BIG_AREA
	mov ecx, 64
	xor ebx, ebx
.sum:	add rbx, [rdi]
	add rdi, 4096
	dec ecx
	jnz .sum
	USER_PRINT "big pages:"
	USER_HEX rbx

	UFAULT hlt
	UFAULT ud2
	xor edx, edx
	xor ecx, ecx
	mov eax, 1
	UFAULT div ecx
	int3

	; CPUID: the same model as ring 0's
	xor eax, eax
	cpuid
	cmp eax, [cpuid0]
	jne .cpuid_bad
	cmp ebx, [cpuid0 + 4]
	jne .cpuid_bad
	cmp ecx, [cpuid0 + 8]
	jne .cpuid_bad
	cmp edx, [cpuid0 + 12]
	jne .cpuid_bad
	mov eax, 1
	cpuid
	cmp eax, [cpuid0 + 16]
	jne .cpuid_bad
	cmp ebx, [cpuid0 + 20]
	jne .cpuid_bad
	cmp ecx, [cpuid0 + 24]
	jne .cpuid_bad
	cmp edx, [cpuid0 + 28]
	jne .cpuid_bad
	USER_PRINT "cpuid: as in ring 0"
	jmp .rdtsc
.cpuid_bad:
	USER_PRINT "cpuid: DIFFERS from ring 0"

.rdtsc:	rdtsc
	shl rdx, 32
	or rax, rdx
	mov r12, rax
	mov ecx, 1000
.spin:	dec ecx
	jnz .spin
	rdtsc
	shl rdx, 32
	or rax, rdx
	cmp rax, r12
	ja .tsc_ok
	USER_PRINT "rdtsc: did NOT advance"
	jmp .done
.tsc_ok:
	USER_PRINT "rdtsc: advances"
.done:	mov eax, SYS_EXIT
	syscall
	ud2

; ---- ring 0 ----------------------------------------------------------------------------------
syscall_entry:
	mov [user_rsp], rsp
	mov rsp, RSP0_TOP
	push rcx
	push r11
	cmp eax, SYS_EXIT
	je .exit
	cmp eax, SYS_HEX
	je .hex
	call serial_puts
	PRINT 10
	jmp .ret
.hex:	HEX rsi, 16
	PRINT 10
.ret:	pop r11
	pop rcx
	mov rsp, [user_rsp]
	o64 sysret
.exit:	PRINT "ring 0: ring 3 exited", 10
	PRINT "usermode ok", 10
	EXIT 0x14

print_from:
	PRINT " from cpl "
	mov rax, [rbx + FRAME_CS]
	and eax, 3
	HEX rax, 1
	PRINT 10
	ret

bp_trap:
	PRINT "#BP"
	jmp print_from

fault:
	PRINT "vector "
	HEX [rbx + FRAME_VEC], 2
	PRINT " err="
	HEX [rbx + FRAME_ERR], 4
	call print_from
	mov rax, [rbx + FRAME_CS]
	test al, 3
	jz kernel_fault
	mov rax, [resume_rip]
	mov [rbx + FRAME_IP], rax
	ret

pf_fault:
	PRINT "#PF err="
	HEX [rbx + FRAME_ERR], 2
	PRINT " cr2="
	mov rax, cr2
	HEX rax, 8
	call print_from
	mov rax, cr2
	and rax, ~0xfff
	cmp rax, NP_PAGE
	je .np
	cmp rax, RO_PAGE
	je .ro
	jmp kernel_fault
.np:	mov qword [PT + (NP_PAGE >> 12) * 8], NP_PAGE | PTE_P | PTE_W | PTE_U
	invlpg [NP_PAGE]
	ret
.ro:	or qword [PT + (RO_PAGE >> 12) * 8], PTE_W
	invlpg [RO_PAGE]
	ret

kernel_fault:
	PRINT "unexpected fault", 10
	EXIT EXIT_FAIL

	align 8
user_rsp:	dq 0
resume_rip:	dq 0
cpuid0:		times 8 dd 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
