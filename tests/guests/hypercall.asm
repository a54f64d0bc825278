; vmon's paravirtual interface (the KVM ABI) in long mode: CPUID 0x40000000 signature and the
; 0x40000001 features; kvmclock (MSR_KVM_SYSTEM_TIME_NEW: version even, a scale set, time
; advances between two reads; MSR_KVM_WALL_CLOCK_NEW: a date after 2020; both MSRs read
; back; an address outside RAM is kept but not written); hypercalls: KVM_HC_SCHED_YIELD (to
; itself; to an APIC ID that does not exist it must just return), KVM_HC_SEND_IPI to itself (the
; interrupt arrives), an unknown number through VMCALL and VMMCALL (-KVM_ENOSYS), the CPU
; vendor's hypercall instruction from ring 3 (-KVM_EPERM).
; Only what the ABI fixes is printed, so that the output is the same under the kvm engine on any
; host: the kvmclock scale and TSC_STABLE depend on the host's TSC, KVM answers 0 to any
; SCHED_YIELD, and on AMD it raises #GP for VMCALL at CPL 3 (its emulator's privilege check).
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 73
; kvm-needs: vmcall vmmcall
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"

TSS_ADDR	equ 0x1c0000
RSP0_TOP	equ 0x1c8000
USER_STACK_TOP	equ 0x1d8000
PVTI		equ SCRATCH		; struct pvclock_vcpu_time_info, 32 bytes
WALL		equ SCRATCH + 0x40	; struct pvclock_wall_clock, 12 bytes
PD_HIGH		equ SCRATCH + 0x1000	; page directory for 3-4 GiB (the local APIC)
LAPIC		equ 0xfee00000
LAPIC_EOI	equ LAPIC + 0xb0
LAPIC_SVR	equ LAPIC + 0xf0
MSR_WALL_CLOCK	equ 0x4b564d00
MSR_SYSTEM_TIME	equ 0x4b564d01
HC_SEND_IPI	equ 10
HC_SCHED_YIELD	equ 11
IPI_VECTOR	equ 0x40

; HYPERCALL nr, a0: VMCALL; prints "= " and RAX.
%macro HYPERCALL 2
	mov eax, %1
	mov ebx, %2
	vmcall
	PRINT " = "
	HEX rax, 16
	PRINT 10
%endmacro

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER IPI_VECTOR, ipi
	SET_HANDLER 0x80, back_from_user
	GATE_ATTR 0x80, 3, 0
	LOAD_TSS TSS_ADDR, RSP0_TOP, RSP0_TOP
	mov al, 0xff			; nothing from the 8259s
	out 0x21, al
	out 0xa1, al

	; ---- CPUID ----
	xor eax, eax
	cpuid
	cmp ebx, "Auth"			; AuthenticAMD: VMMCALL is the native instruction
	sete [amd]
	mov eax, 0x40000000
	cpuid
	mov [sig], ebx
	mov [sig + 4], ecx
	mov [sig + 8], edx
	PRINT "cpuid 0x40000000: max "
	HEX rax, 8
	PRINT " signature "
	mov rsi, sig
	call serial_puts
	PRINT 10
	mov eax, 0x40000001
	cpuid
	PRINT "clocksource2 "
	bt eax, 3
	setc cl
	HEX rcx, 1
	PRINT " stable bit "
	bt eax, 24
	setc cl
	HEX rcx, 1
	PRINT 10

	; ---- kvmclock ----
	mov ecx, MSR_SYSTEM_TIME
	mov eax, PVTI | 1
	xor edx, edx
	wrmsr
	rdmsr
	PRINT "system time msr "
	HEX rax, 8
	PRINT " version even "
	mov eax, [PVTI]
	not eax
	and eax, 1
	HEX rax, 1
	PRINT " scale set "
	cmp dword [PVTI + 24], 0
	setne cl
	HEX rcx, 1
	PRINT 10
	call kvmclock_read
	mov r12, rax
	mov ecx, 100000
.spin:	loop .spin
	call kvmclock_read
	PRINT "time advances "
	cmp rax, r12
	seta cl
	HEX rcx, 1
	PRINT 10

	mov ecx, MSR_WALL_CLOCK
	mov eax, WALL
	xor edx, edx
	wrmsr
	rdmsr
	PRINT "wall clock msr "
	HEX rax, 8
	PRINT " version "
	HEX [WALL], 8
	PRINT " after 2020 "
	cmp dword [WALL + 4], 1577836800
	seta cl
	HEX rcx, 1
	PRINT 10

	; A hostile address (1 TiB, outside RAM): kept in the MSR, nothing written, no fault.
	mov ecx, MSR_SYSTEM_TIME
	mov eax, 1
	mov edx, 0x100
	wrmsr
	rdmsr
	PRINT "outside RAM: msr "
	HEX rdx, 8
	HEX rax, 8
	PRINT 10

	; ---- hypercalls ----
	PRINT "sched_yield(0)"
	HYPERCALL HC_SCHED_YIELD, 0
	mov eax, HC_SCHED_YIELD
	mov ebx, 5
	vmcall
	PRINT "sched_yield(5) returned", 10
	PRINT "unknown"
	HYPERCALL 9999, 0
	PRINT "unknown via vmmcall = "
	mov eax, 9999
	vmmcall
	HEX rax, 16
	PRINT 10

	; The local APIC, mapped through a 2 MiB page, enabled; an IPI to APIC ID 0 (this CPU).
	mov eax, LAPIC | PTE_P | PTE_W | PTE_PS | (1 << 4)	; PCD
	mov [PD_HIGH + ((LAPIC >> 21) & 511) * 8], rax
	mov qword [PDPT + 3 * 8], PD_HIGH | PTE_P | PTE_W
	mov rax, cr3
	mov cr3, rax
	mov rdi, LAPIC_SVR
	mov dword [rdi], 0x1ff
	mov eax, HC_SEND_IPI
	mov ebx, 1			; bitmap: min + 0
	xor ecx, ecx
	xor edx, edx			; min = APIC ID 0
	mov esi, IPI_VECTOR		; fixed delivery
	vmcall
	PRINT "send_ipi(self) = "
	HEX rax, 16
	PRINT 10
	sti
	hlt				; the IPI is pending: wakes at once
	cli
	cmp byte [ipi_seen], 1
	je .ipi_ok
	PRINT "IPI did not arrive", 10
	EXIT EXIT_FAIL
.ipi_ok:

	; ---- ring 3 ----
	push SEL_UDATA | 3
	push USER_STACK_TOP
	push 0x2
	push SEL_UCODE64 | 3
	push user_main
	iretq

user_main:
	mov eax, HC_SCHED_YIELD
	xor ebx, ebx
	cmp byte [amd], 1
	je .vmmcall
	vmcall
	int 0x80			; rax to ring 0
.vmmcall:
	vmmcall
	int 0x80
	ud2

back_from_user:
	PRINT "hypercall from ring 3 = "
	HEX [rbx + FRAME_AX], 16
	PRINT 10
	PRINT "hypercall ok", 10
	EXIT 0x24

ipi:
	PRINT "ipi vector "
	HEX [rbx + FRAME_VEC], 2
	PRINT 10
	mov byte [ipi_seen], 1
	mov rdi, LAPIC_EOI
	mov dword [rdi], 0
	ret

; rax = kvmclock time in ns (pvclock ABI: retry while the version is odd or changed).
kvmclock_read:
.retry:	mov esi, [PVTI]
	test esi, 1
	jnz .retry
	rdtsc
	shl rdx, 32
	or rax, rdx
	sub rax, [PVTI + 8]
	movsx ecx, byte [PVTI + 28]
	test ecx, ecx
	js .right
	shl rax, cl
	jmp .scale
.right:	neg ecx
	shr rax, cl
.scale:	mov ecx, [PVTI + 24]
	mul rcx
	shrd rax, rdx, 32
	add rax, [PVTI + 16]
	cmp esi, [PVTI]
	jne .retry
	ret

sig:		times 13 db 0
ipi_seen:	db 0
amd:		db 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
