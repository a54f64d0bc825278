; Paging without long mode: 2-level tables with 4 MiB pages (CR4.PSE) and a 4 KiB page table,
; then PAE paging (3-level, 2 MiB pages) in 32-bit protected mode. Both alias one physical page
; through two linear addresses.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 55
; kvm-needs: paging32
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"

PGDIR		equ PT_BASE		; 2-level page directory
PGTAB		equ PT_BASE + 0x1000	; 2-level page table for linear 12-16 MiB
PAE_PDPT	equ PT_BASE + 0x2000
PAE_PD		equ PT_BASE + 0x3000
P_PW		equ 0x3			; present, writable
P_PS		equ 0x80
CR4_PSE		equ 1 << 4
CR4_PAE		equ 1 << 5
CR0_PG		equ 1 << 31

	MULTIBOOT_KERNEL
main:
	PRINT "paging32", 10
	mov edi, PT_BASE
	mov ecx, 4 * 4096 / 4
	xor eax, eax
	rep stosd

	; 2-level: 0-8 MiB identity in 4 MiB pages, 8-12 MiB -> 0-4 MiB, 12 MiB -> SCRATCH (4 KiB)
	mov dword [PGDIR + 0 * 4], 0x000000 | P_PW | P_PS
	mov dword [PGDIR + 1 * 4], 0x400000 | P_PW | P_PS
	mov dword [PGDIR + 2 * 4], 0x000000 | P_PW | P_PS
	mov dword [PGDIR + 3 * 4], PGTAB | P_PW
	mov dword [PGTAB], SCRATCH | P_PW
	mov eax, cr4
	or eax, CR4_PSE
	mov cr4, eax
	mov eax, PGDIR
	mov cr3, eax
	mov eax, cr0
	or eax, CR0_PG
	mov cr0, eax

	mov dword [SCRATCH], 0
	mov dword [0x800000 + SCRATCH + 4], 0x4a4a4a4a		; 4 MiB alias
	mov dword [0xc00000 + 8], 0x4b4b4b4b			; 4 KiB alias
	PRINT "pse "
	HEX dword [SCRATCH + 4], 8
	PRINT " "
	HEX dword [SCRATCH + 8], 8
	PRINT 10

	mov eax, cr0			; paging off to switch table formats
	and eax, ~CR0_PG
	mov cr0, eax

	; PAE: PDPT[0] -> PD; 0-4 MiB identity in 2 MiB pages, 1 GiB -> SCRATCH's 2 MiB page
	mov dword [PAE_PDPT + 0 * 8], PAE_PD | 1	; PDPTEs: present only
	mov dword [PAE_PDPT + 1 * 8], PAE_PD | 1	; 1-2 GiB uses the same directory
	mov dword [PAE_PD + 0 * 8], 0x000000 | P_PW | P_PS
	mov dword [PAE_PD + 1 * 8], SCRATCH & ~0x1fffff | P_PW | P_PS
	mov eax, cr4
	or eax, CR4_PAE
	mov cr4, eax
	mov eax, PAE_PDPT
	mov cr3, eax
	mov eax, cr0
	or eax, CR0_PG
	mov cr0, eax

	mov dword [SCRATCH + 12], 0x5a5a5a5a
	mov eax, [0x40000000 + SCRATCH + 12]	; PDPT[1] -> same PD
	PRINT "pae "
	HEX eax, 8
	mov eax, cr4
	PRINT " cr4 "
	HEX eax, 2
	PRINT 10
	PRINT "paging32 ok", 10
	EXIT 0x1b

	SERIAL_LIB
	MULTIBOOT_END
