; NMIs in 32-bit protected mode with two CPUs, all sent through the local APIC's ICR with
; delivery mode NMI: a self-NMI reaches vector 2 with IF=0; while its handler runs NMIs are
; blocked, so two more self-NMIs sent from inside it do not nest, and after its IRET exactly one
; of them follows (latched, the other merged with it); an NMI never lands on the instruction
; right after MOV SS or POP SS (the other CPU sends a stream of them while this one runs both
; in a loop); an NMI IPI wakes the other CPU from HLT with IF=0.
; vmon-kind: kernel
; vmon-args: --cpus 2
; vmon-exit: 79
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"
%include "smp.inc"

ICR_SELF	equ 1 << 18		; destination shorthand: self
ICR_NMI		equ 4 << 8
PATIENCE	equ 100000000		; spins before a wait gives up
FLOOD		equ 2000

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 2, nmi
	mov dword [LAPIC_SVR], 0x1ff

	; 1: a self-NMI, with IF=0.
	cli
	mov dword [LAPIC_ICR_LO], ICR_SELF | ICR_NMI
	WAIT_FOR nmis, 1
	PRINT "self nmi: "
	HEX eax, 1
	PRINT 10

	; 2: the handler sends two more and waits inside; one follows its IRET.
	mov dword [nest_phase], 1
	mov dword [LAPIC_ICR_LO], ICR_SELF | ICR_NMI
	WAIT_FOR nmis, 3
	mov ecx, 1000000		; and no third one
.settle:
	dec ecx
	jnz .settle
	PRINT "nested: seen in handler "
	HEX [seen_inside], 1
	PRINT ", total "
	HEX [nmis], 1
	PRINT 10

	; 3: the other CPU sends NMIs while this one runs MOV SS and POP SS in a loop; none may
	; land on the instruction right after them.
	START_AP
	WAIT_FOR ap_up, 1
	mov dword [flood_go], 1
	mov dx, ss
shadow_loop:
	mov ss, dx
after_movss:
	nop
	push ss
	pop ss
after_popss:
	nop
	cmp dword [flood_done], 0
	je shadow_loop
	PRINT "nmi in the mov ss / pop ss shadow: "
	HEX [shadow_hits], 1
	PRINT 10

	; 4: an NMI IPI to the other CPU, halted with IF=0.
	mov ecx, 1000000		; let it reach its HLT
.ap_settle:
	dec ecx
	jnz .ap_settle
	mov eax, ICR_NMI
	call send_ipi
	WAIT_FOR ap_nmis, 1
	PRINT "cpu1 nmi: "
	HEX eax, 1
	PRINT 10
	PRINT "nmi ok", 10
	EXIT 0x27

; Vector 2, on either CPU (EBX = frame).
nmi:
	mov eax, [LAPIC_ID]
	shr eax, 24
	jz .bsp
	lock inc dword [ap_nmis]
	ret
.bsp:	mov eax, [ebx + FRAME_IP]
	cmp eax, after_movss
	je .in_shadow
	cmp eax, after_popss
	jne .counted
.in_shadow:
	inc dword [shadow_hits]
.counted:
	inc dword [nmis]
	cmp dword [nest_phase], 1
	jne .done
	mov dword [nest_phase], 2
	mov dword [LAPIC_ICR_LO], ICR_SELF | ICR_NMI
	mov dword [LAPIC_ICR_LO], ICR_SELF | ICR_NMI
	mov ecx, 1000000
.inside:
	dec ecx
	jnz .inside
	mov eax, [nmis]
	mov [seen_inside], eax
.done:	ret

; The AP sends FLOOD NMIs to the BSP, each after the previous one was taken, then halts.
ap_main:
	lidt [idt_desc]
	lock inc dword [ap_up]
	WAIT_FOR flood_go, 1
	mov esi, FLOOD
.send:	mov edi, [nmis]
	mov dword [LAPIC_ICR_HI], 0
	mov dword [LAPIC_ICR_LO], ICR_NMI
	mov ecx, PATIENCE
.taken:	pause
	cmp [nmis], edi
	jne .next
	dec ecx
	jnz .taken
.next:	dec esi
	jnz .send
	mov dword [flood_done], 1
.idle:	cli
	hlt
	jmp .idle

nmis:		dd 0
nest_phase:	dd 0
seen_inside:	dd 0
flood_go:	dd 0
flood_done:	dd 0
shadow_hits:	dd 0
ap_up:		dd 0
ap_nmis:	dd 0

	SMP_LIB
	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
