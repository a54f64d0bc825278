; SMP bring-up: the BSP copies a real-mode trampoline below 1 MiB and wakes APIC ID 1 with
; INIT (assert, de-assert) + SIPI through the LAPIC ICR; the AP switches to protected mode,
; prints under a spinlock (lock xchg) and raises a flag the BSP waits for.
; vmon-kind: kernel
; vmon-args: --cpus 2
; vmon-exit: 51
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"

LAPIC		equ 0xfee00000
LAPIC_ID	equ LAPIC + 0x20
LAPIC_SVR	equ LAPIC + 0xf0
LAPIC_ICR_LO	equ LAPIC + 0x300
LAPIC_ICR_HI	equ LAPIC + 0x310
ICR_PENDING	equ 1 << 12
ICR_INIT	equ 5 << 8
ICR_STARTUP	equ 6 << 8
ICR_ASSERT	equ 1 << 14
ICR_LEVEL	equ 1 << 15
TRAMPOLINE	equ 0x8000		; SIPI vector 0x08
AP_ID		equ 1

; address of a trampoline label once copied to TRAMPOLINE
%define TR(label) (TRAMPOLINE + (label) - trampoline)

	MULTIBOOT_KERNEL
main:
	mov esi, trampoline
	mov edi, TRAMPOLINE
	mov ecx, trampoline_end - trampoline
	rep movsb
	mov dword [LAPIC_SVR], 0x1ff	; software-enable the local APIC

	call lock_console
	PRINT "bsp: apic id "
	mov eax, [LAPIC_ID]
	shr eax, 24
	HEX eax, 2
	PRINT ", starting cpu 1", 10
	call unlock_console

	mov eax, ICR_INIT | ICR_ASSERT | ICR_LEVEL
	call send_ipi
	mov eax, ICR_INIT | ICR_LEVEL	; de-assert
	call send_ipi
	mov eax, ICR_STARTUP | (TRAMPOLINE >> 12)
	call send_ipi
.wait:	pause
	cmp dword [ap_up], 1
	jne .wait

	call lock_console
	PRINT "bsp: cpu 1 is up", 10
	PRINT "smp ok", 10
	EXIT 0x19

; EAX = ICR low word for APIC ID AP_ID; waits until the APIC accepted it.
send_ipi:
	mov dword [LAPIC_ICR_HI], AP_ID << 24
	mov [LAPIC_ICR_LO], eax
.busy:	pause
	test dword [LAPIC_ICR_LO], ICR_PENDING
	jnz .busy
	ret

lock_console:
	push eax
.spin:	mov eax, 1
	xchg eax, [console_lock]	; implicitly locked
	test eax, eax
	jz .done
.held:	pause
	cmp dword [console_lock], 0
	jne .held
	jmp .spin
.done:	pop eax
	ret

unlock_console:
	mov dword [console_lock], 0
	ret

; The AP, in protected mode on its own stack.
ap_main:
	mov ax, SEL_DATA
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, AP_STACK_TOP
	call lock_console
	PRINT "cpu"
	mov eax, [LAPIC_ID]
	shr eax, 24
	HEX eax, 1
	PRINT " up", 10
	call unlock_console
	lock inc dword [ap_up]
.idle:	cli
	hlt
	jmp .idle

console_lock:	dd 0
ap_up:		dd 0

; Real-mode entry of the AP (CS = 0x0800, IP = 0), copied to TRAMPOLINE.
	bits 16
trampoline:
	cli
	xor ax, ax
	mov ds, ax
	o32 lgdt [TR(tr_gdt_desc)]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	jmp dword SEL_CODE32:ap_main
tr_gdt_desc:
	dw gdt_end - gdt - 1
	dd gdt
trampoline_end:
	bits 32

	SERIAL_LIB
	MULTIBOOT_END
