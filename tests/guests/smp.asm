; SMP bring-up: the BSP copies a real-mode trampoline below 1 MiB and wakes APIC ID 1 with
; INIT (assert, de-assert) + SIPI through the LAPIC ICR; the AP switches to protected mode,
; prints under a spinlock (lock xchg) and raises a flag the BSP waits for.
; vmon-kind: kernel
; vmon-args: --cpus 2
; vmon-exit: 51
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "smp.inc"

	MULTIBOOT_KERNEL
main:
	call lock_console
	PRINT "bsp: apic id "
	mov eax, [LAPIC_ID]
	shr eax, 24
	HEX eax, 2
	PRINT ", starting cpu 1", 10
	call unlock_console

	START_AP
.wait:	pause
	cmp dword [ap_up], 1
	jne .wait

	call lock_console
	PRINT "bsp: cpu 1 is up", 10
	PRINT "smp ok", 10
	EXIT 0x19

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

	SMP_LIB
	SERIAL_LIB
	MULTIBOOT_END
