; KVM's PV_UNHALT (what Linux's paravirtual spinlocks wait with): CPUID 0x40000001 EAX bit 7 is
; set; KVM_HC_KICK_CPU(0, APIC ID) ends the target's HLT even with interrupts off, and a kick that
; arrives before the HLT makes that HLT return at once; a kick to an APIC ID nobody has returns 0.
; The AP halts with CLI twice and reports each wake-up in memory; the BSP gives it a bounded time
; (a spin count, no timer) and fails rather than hangs if the AP never wakes.
; vmon-kind: kernel
; vmon-args: --cpus 2
; vmon-exit: 51
; kvm-needs: vmcall
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "smp.inc"

HC_KICK_CPU	equ 5
FEATURE_PV_UNHALT equ 1 << 7
PATIENCE	equ 200000000		; spins before the BSP gives up on the AP

; KICK apic_id: KVM_HC_KICK_CPU(0, apic_id); prints "kick(N) = " and EAX.
%macro KICK 1
	mov eax, HC_KICK_CPU
	xor ebx, ebx
	mov ecx, %1
	vmcall
	PRINT "kick(", %1 + '0', ") = "
	HEX eax, 8
%endmacro

	MULTIBOOT_KERNEL
main:
	mov eax, 0x40000001
	cpuid
	PRINT "pv_unhalt "
	test eax, FEATURE_PV_UNHALT
	setnz al
	movzx eax, al
	HEX eax, 1
	PRINT 10
	KICK 9
	PRINT 10

	START_AP
	WAIT_FOR ap_up
	test eax, eax
	jz .fail

	; 1: the AP announced its CLI; HLT. Give it time to get there, then kick it.
	mov ecx, 1000000
.settle:
	pause
	dec ecx
	jnz .settle
	PRINT "cli; hlt on cpu 1, then "
	KICK AP_ID
	WAIT_FOR woke1
	PRINT ", woke "
	HEX eax, 1
	PRINT 10
	test eax, eax
	jz .fail

	; 2: kick while the AP is still running, then let it halt: that HLT must not wait.
	PRINT "early "
	KICK AP_ID
	mov dword [go_halt], 1
	WAIT_FOR woke2
	PRINT ", then cli; hlt on cpu 1: woke "
	HEX eax, 1
	PRINT 10
	test eax, eax
	jz .fail
	PRINT "pvunhalt ok", 10
	EXIT 0x19
.fail:
	PRINT 10, "cpu 1 did not wake", 10
	EXIT 0x1a

; The AP, in protected mode with interrupts off from the trampoline on.
ap_main:
	mov dword [ap_up], 1
	hlt				; only a kick ends it: IF = 0
	mov dword [woke1], 1
.wait:	pause
	cmp dword [go_halt], 0
	je .wait
	hlt				; the kick came before: returns at once
	mov dword [woke2], 1
.idle:	hlt
	jmp .idle

ap_up:		dd 0
woke1:		dd 0
go_halt:	dd 0
woke2:		dd 0

	SMP_LIB
	SERIAL_LIB
	MULTIBOOT_END
