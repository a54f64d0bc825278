; Two address spaces, A and B, that map virtual 8 MiB to different pages; CR3 switches back and
; forth. Page-table entries of A are changed while B runs (and of B while A runs), with no
; INVLPG: the switch back must see them. In the running space, changes followed by INVLPG or a
; CR3 reload: remap, clear P (#PF), clear W (#PF with CR0.WP). A and D bits the guest clears are
; set again by the next access. (vmon keeps each space's translations in a shadow, kept
; coherent by write-protecting the page tables: this is what a stale shadow would get wrong.)
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 77
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"

PT_A		equ PT_BASE + 0x4000	; A's page table for virtual 8-10 MiB
PML4_B		equ PT_BASE + 0x5000
PDPT_B		equ PT_BASE + 0x6000
PD_B		equ PT_BASE + 0x7000
PT_B		equ PT_BASE + 0x8000	; B's page table for virtual 8-10 MiB
VA		equ 0x800000
PAGE0		equ SCRATCH		; each page holds its own marker value
PAGE1		equ SCRATCH + 0x1000
PAGE2		equ SCRATCH + 0x2000
PAGE3		equ SCRATCH + 0x3000
RESUME		equ SCRATCH + 0x10000	; where the #PF handler continues
PTE_A		equ 1 << 5
PTE_D		equ 1 << 6
CR0_WP		equ 1 << 16

; SHOW "text": print the text and the dword at VA.
%macro SHOW 1
	PRINT %1
	mov eax, [VA]
	HEX rax, 8
	PRINT 10
%endmacro

; FAULTS "text", access...: the access must fault; the handler prints, then we go on.
%macro FAULTS 2+
	PRINT %1
	mov qword [RESUME], %%after
	%2
	PRINT "no fault", 10
	EXIT EXIT_FAIL
%%after:
%endmacro

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER 14, page_fault
	mov rax, cr0
	or eax, CR0_WP
	mov cr0, rax
	mov dword [PAGE0], 0xa0a0a0a0
	mov dword [PAGE1], 0xb1b1b1b1
	mov dword [PAGE2], 0xc2c2c2c2
	mov dword [PAGE3], 0xd3d3d3d3

	; A: the boot tables plus PD[4] -> PT_A, VA -> PAGE0.
	mov edi, PT_A
	mov ecx, 4096 / 8
	xor eax, eax
	rep stosq
	mov qword [PT_A], PAGE0 | PTE_P | PTE_W
	mov qword [PD + 4 * 8], PT_A | PTE_P | PTE_W
	; B: its own PML4, PDPT and PD (a copy of A's: same identity map), PD_B[4] -> PT_B,
	; VA -> PAGE1.
	mov edi, PML4_B
	mov ecx, 4 * 4096 / 8
	xor eax, eax
	rep stosq
	mov qword [PML4_B], PDPT_B | PTE_P | PTE_W
	mov qword [PDPT_B], PD_B | PTE_P | PTE_W
	mov esi, PD
	mov edi, PD_B
	mov ecx, 4096 / 8
	rep movsq
	mov qword [PD_B + 4 * 8], PT_B | PTE_P | PTE_W
	mov qword [PT_B], PAGE1 | PTE_P | PTE_W

	mov rax, PML4
	mov cr3, rax
	SHOW "A: "
	mov rax, PML4_B
	mov cr3, rax
	SHOW "B: "
	mov rax, PML4
	mov cr3, rax
	SHOW "A again: "
	mov rax, PML4_B
	mov cr3, rax
	SHOW "B again: "

	; Running B, remap A's VA; no INVLPG (it would act on B anyway).
	mov qword [PT_A], PAGE2 | PTE_P | PTE_W
	mov rax, PML4
	mov cr3, rax
	SHOW "A remapped while B ran: "
	PRINT "A's pte after a read: "
	HEX [PT_A], 2
	PRINT 10

	; Running A, clear P in B's entry; B faults after the switch.
	mov qword [PT_B], PAGE1 | PTE_W
	mov rax, PML4_B
	mov cr3, rax
	FAULTS "B not present: ", mov eax, [VA]
	; In B itself: present again but read-only, INVLPG; reads work, writes fault (WP).
	mov qword [PT_B], PAGE3 | PTE_P
	invlpg [VA]
	SHOW "B read-only: "
	FAULTS "B write: ", mov dword [VA], 0
	; Writable again, INVLPG: the write sets D.
	mov qword [PT_B], PAGE3 | PTE_P | PTE_W
	invlpg [VA]
	mov dword [VA], 0xd4d4d4d4
	PRINT "B's pte after a write: "
	HEX [PT_B], 2
	PRINT 10

	; Running B, clear A and D in A's entry; A sets A again on its next read, D on its next
	; write (its shadow must not answer without walking).
	and qword [PT_A], ~(PTE_A | PTE_D)
	mov rax, PML4
	mov cr3, rax
	mov eax, [VA]
	PRINT "A's pte after A/D cleared and a read: "
	HEX [PT_A], 2
	PRINT 10
	mov dword [VA], 0xc3c3c3c3
	PRINT "after a write: "
	HEX [PT_A], 2
	PRINT 10

	; In A: remap with INVLPG, then with a CR3 reload of the same value.
	mov qword [PT_A], PAGE0 | PTE_P | PTE_W
	invlpg [VA]
	SHOW "A remapped, invlpg: "
	mov qword [PT_A], PAGE1 | PTE_P | PTE_W
	mov rax, cr3
	mov cr3, rax
	SHOW "A remapped, cr3 reload: "
	; Clear W with INVLPG: the write faults; clear P with a CR3 reload: the read faults.
	mov qword [PT_A], PAGE1 | PTE_P
	invlpg [VA]
	FAULTS "A write: ", mov dword [VA], 0
	mov qword [PT_A], PAGE1
	mov rax, cr3
	mov cr3, rax
	FAULTS "A not present: ", mov eax, [VA]

	; B still sees its own mapping: what changed in A's page table left B's alone.
	mov rax, PML4_B
	mov cr3, rax
	SHOW "B at the end: "
	PRINT "shadow ok", 10
	EXIT 0x26

; #PF handler: error code and CR2, then continue at [RESUME].
page_fault:
	PRINT "#PF err="
	HEX [rbx + FRAME_ERR], 2
	PRINT " cr2="
	mov rax, cr2
	HEX rax, 8
	PRINT 10
	mov rax, [RESUME]
	mov [rbx + FRAME_IP], rax
	ret

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
