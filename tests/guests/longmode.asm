; Long mode with 4-level paging: 4 KiB and 2 MiB pages, one physical page seen through two
; mappings (a 4 KiB alias and a higher-half alias of the whole map), INVLPG after remapping,
; and a #PF for executing a no-execute page.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 37
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"

PT_ALIAS	equ PT_BASE + 0x4000	; 4 KiB page table for virtual 8-10 MiB
ALIAS_VA	equ 0x800000
NX_VA		equ ALIAS_VA + 0x1000
HIGH_VA		equ 0xffff800000000000	; PML4[256] -> the same PDPT as PML4[0]

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	SET_HANDLER 14, nx_fault
	PRINT "long mode", 10
	mov ecx, MSR_EFER
	rdmsr
	PRINT "efer="
	HEX rax, 4			; LME, LMA, NXE
	PRINT 10

	; 4 KiB alias: virtual 8 MiB -> SCRATCH (identity mapped through a 2 MiB page)
	mov edi, PT_ALIAS
	mov ecx, 4096 / 8
	xor eax, eax
	rep stosq
	mov qword [PD + 4 * 8], PT_ALIAS | PTE_P | PTE_W
	mov qword [PT_ALIAS], SCRATCH | PTE_P | PTE_W
	mov dword [SCRATCH], 0
	mov dword [ALIAS_VA], 0xdeadbeef
	mov eax, [SCRATCH]
	PRINT "alias write seen: "
	HEX rax, 8
	PRINT 10

	; the higher half maps the same PDPT: the same byte appears at HIGH_VA + SCRATCH
	mov rax, HIGH_VA
	mov qword [PML4 + 256 * 8], PDPT | PTE_P | PTE_W
	mov dword [SCRATCH + 8], 0x1234abcd
	mov ebx, [rax + SCRATCH + 8]
	PRINT "higher half: "
	HEX rbx, 8
	PRINT 10

	; remap the alias to the next page; INVLPG must drop the old translation
	mov dword [SCRATCH + 0x1000], 0x600dcafe
	mov eax, [ALIAS_VA]		; the old translation is now cached
	mov qword [PT_ALIAS], (SCRATCH + 0x1000) | PTE_P | PTE_W
	invlpg [ALIAS_VA]
	mov eax, [ALIAS_VA]
	PRINT "after invlpg: "
	HEX rax, 8
	PRINT 10

	; executing from a no-execute page faults with I/D set in the error code
	mov byte [SCRATCH + 0x2000], 0xc3	; ret
	mov dword [PT_ALIAS + 8], (SCRATCH + 0x2000) | PTE_P | PTE_W
	mov dword [PT_ALIAS + 12], PTE_NX_HI
	mov byte [NX_VA - 1], 0		; data access to the page before (warms the TLB)
	mov rax, [NX_VA]		; data reads of an NX page are fine
	call NX_VA
	PRINT "not reached", 10
	EXIT EXIT_FAIL
nx_resume:
	PRINT "long mode ok", 10
	EXIT 0x12

; #PF handler: report, then resume at nx_resume with the call's return address dropped.
nx_fault:
	PRINT "#PF err="
	HEX [rbx + FRAME_ERR], 2
	PRINT " cr2="
	mov rax, cr2
	HEX rax, 8
	PRINT " rip="
	HEX [rbx + FRAME_IP], 8
	PRINT 10
	mov qword [rbx + FRAME_IP], nx_resume
	add qword [rbx + FRAME_SP], 8
	ret

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
