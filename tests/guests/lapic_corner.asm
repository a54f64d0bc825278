; Local APIC corner cases in 32-bit protected mode: IA32_APIC_BASE rejects a reserved bit with
; #GP, and the x2APIC enable too where CPUID does not offer x2APIC; with EN clear
; CPUID.1:EDX.APIC reads 0 and the page reads all ones, and after re-enabling the registers
; answer again (whether they kept their values the SDM leaves open); the TSC-deadline timer fires once and reads 0 afterwards, and a write of 0 disarms it;
; the current count reads 0 while the timer is stopped. (apic_relocate moves the page.)
; vmon-only: QEMU TCG keeps CPUID.1:EDX.APIC clear after re-enabling and reads the registers
; from the disabled page.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 89
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "apic_base.inc"
%include "idt.inc"

LAPIC		equ 0xfee00000
REG_VERSION	equ 0x30
REG_TPR		equ 0x80
REG_SVR		equ 0xf0
REG_LVT_TIMER	equ 0x320
REG_TMICT	equ 0x380
REG_TMCCT	equ 0x390
MSR_TSC_DEADLINE equ 0x6e0
MOVED		equ 0x400000		; RAM
TIMER_VECTOR	equ 0x40
TSC_DEADLINE	equ 2 << 17

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 13, gp
	SET_HANDLER TIMER_VECTOR, timer

	call cpuid_apic
	SHOW "cpuid.1:edx.apic", eax

	; Reserved bit 0: #GP. The x2APIC enable: #GP unless CPUID offers x2APIC (then skipped).
	WRMSR_BASE LAPIC | BASE_EN | BASE_BSP | 1
	SHOW "reserved bit: #GP", [gps]
	mov eax, 1
	cpuid
	test ecx, 1 << 21
	jnz .x2apic_offered
	WRMSR_BASE LAPIC | BASE_EN | BASE_BSP | BASE_EXTD
	jmp .x2apic_done
.x2apic_offered:
	inc dword [gps]
.x2apic_done:
	SHOW "x2apic enable unless offered: #GP", [gps]
	mov ecx, MSR_APIC_BASE
	rdmsr
	SHOW "apic base", eax

	; EN clear: no APIC in CPUID, nothing at the page; on again, the registers are back.
	mov dword [LAPIC + REG_SVR], 0x1ff
	WRMSR_BASE LAPIC | BASE_BSP
	call cpuid_apic
	SHOW "off: cpuid.1:edx.apic", eax
	SHOW "off: version", [LAPIC + REG_VERSION]
	WRMSR_BASE LAPIC | BASE_EN | BASE_BSP
	call cpuid_apic
	SHOW "on: cpuid.1:edx.apic", eax
	SHOW "on: version", [LAPIC + REG_VERSION]

	; TSC-deadline: fires once, then the MSR reads 0.
	mov dword [LAPIC + REG_SVR], 0x1ff
	mov dword [LAPIC + REG_LVT_TIMER], TIMER_VECTOR | TSC_DEADLINE
	rdtsc
	add eax, 2000000
	adc edx, 0
	mov ecx, MSR_TSC_DEADLINE
	wrmsr
	sti
.wait:	hlt
	cmp dword [ticks], 0
	je .wait
	cli
	SHOW "deadline: ticks", [ticks]
	mov ecx, MSR_TSC_DEADLINE
	rdmsr
	SHOW "deadline: msr after", eax
	SHOW "deadline: tmcct", [LAPIC + REG_TMCCT]
	; Armed, then disarmed by 0: nothing comes within 4 times the delay.
	rdtsc
	add eax, 2000000
	adc edx, 0
	mov ecx, MSR_TSC_DEADLINE
	wrmsr
	xor eax, eax
	xor edx, edx
	wrmsr
	sti
	rdtsc
	mov esi, eax
.spin:	rdtsc
	sub eax, esi
	cmp eax, 8000000
	jb .spin
	cli
	SHOW "disarmed: ticks", [ticks]

	; One-shot: the current count is 0 while stopped.
	mov dword [LAPIC + REG_LVT_TIMER], TIMER_VECTOR | (1 << 16)
	SHOW "stopped: tmcct", [LAPIC + REG_TMCCT]
	mov dword [LAPIC + REG_TMICT], 1000000000
	mov eax, [LAPIC + REG_TMCCT]
	test eax, eax
	setnz al
	movzx eax, al
	SHOW "counting: tmcct nonzero", eax
	mov dword [LAPIC + REG_TMICT], 0
	SHOW "stopped again: tmcct", [LAPIC + REG_TMCCT]
	PRINT "lapic corner ok", 10
	EXIT 0x2c

; EAX = CPUID.1:EDX.APIC.
cpuid_apic:
	mov eax, 1
	cpuid
	mov eax, edx
	shr eax, 9
	and eax, 1
	ret

gp:	inc dword [gps]
	add dword [ebx + FRAME_IP], 2	; wrmsr
	ret

timer:	inc dword [ticks]
	mov dword [LAPIC + 0xb0], 0
	ret

gps:	dd 0
ticks:	dd 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
