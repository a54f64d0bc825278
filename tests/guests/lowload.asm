; A multiboot ELF with segments below 1 MiB, as GNU ld and trampolines make them: the ELF
; headers in a read-only segment at 0xff000 (the page below the code at 1 MiB), and a data
; segment at 0x8000 whose bss runs to 0x9fff, over the page where vmon usually puts the
; multiboot info. Everything loads: the headers and the data are in place, the bss is zero, and
; the info structure (EBX) lies outside the kernel, its command line intact.
; vmon-only: QEMU copies the span 0x8000-0x100213 as one blob and enters with EAX garbage.
; vmon-kind: kernel
; vmon-args: --cmdline "lowtest"
; vmon-exit: 85
; qemu: no
%include "serial.inc"

MB_MAGIC	equ 0x1badb002
MB_FLAGS	equ 3			; page-aligned modules, memory info (ELF, no a.out kludge)
LOW		equ 0x8000
LOW_MEMSZ	equ 0x2000
HDRS		equ 0xff000

	section hdr start=0 vstart=HDRS
ehdr:	db 0x7f, "ELF", 1, 1, 1, 0
	times 8 db 0
	dw 2, 3				; ET_EXEC, EM_386
	dd 1, entry, phdrs - ehdr, 0, 0
	dw 52, 32, 3, 0, 0, 0
phdrs:	dd 1, 0, HDRS, HDRS, 0x1000, 0x1000, 4, 0x1000
	dd 1, 0x1000, text_start, text_start, text_end - text_start, text_end - text_start, 5, 0x1000
	dd 1, 0x2000, LOW, LOW, low_end - low_start, LOW_MEMSZ, 6, 0x1000
	align 4, db 0
	dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
	times 0x1000 - ($ - $$) db 0

	section text start=0x1000 vstart=0x100000
	bits 32
text_start:
entry:	mov [magic], eax
	mov [info], ebx
	lgdt [gdt_desc]
	jmp 0x08:.flat
.flat:	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, 0x180000

	PRINT "magic "
	HEX [magic], 8
	PRINT 10
	PRINT "headers at 0xff000: "
	mov eax, [HDRS]
	cmp eax, 0x464c457f		; "\x7fELF"
	sete al
	movzx eax, al
	HEX eax, 1
	PRINT 10
	PRINT "data at 0x8000: "
	mov esi, LOW
	call serial_puts
	PRINT 10
	PRINT "bss zero: "
	mov edi, low_end
	mov ecx, LOW + LOW_MEMSZ
	sub ecx, edi
	xor eax, eax
	repe scasb
	sete al
	HEX eax, 1
	PRINT 10

	; The info structure and its command line lie outside both kernel segments.
	mov ebx, [info]
	mov eax, 1
	cmp ebx, LOW + LOW_MEMSZ
	jae .info_ok
	cmp ebx, LOW - 88
	ja .info_bad
.info_ok:
	cmp ebx, HDRS - 88
	jbe .info_out
	cmp ebx, text_end
	jae .info_out
.info_bad:
	xor eax, eax
.info_out:
	PRINT "info outside the kernel: "
	HEX eax, 1
	PRINT 10
	test dword [ebx], 1 << 2
	jz .done
	mov esi, [ebx + 16]
.word:	cmp byte [esi], 0
	je .done
	cmp dword [esi], "lowt"
	je .found
	inc esi
	jmp .word
.found:	PRINT "cmdline: "
	call serial_puts
	PRINT 10
.done:	PRINT "lowload ok", 10
	EXIT 0x2a

	align 8
gdt:	dq 0
	dq 0x00cf9a000000ffff
	dq 0x00cf92000000ffff
gdt_desc:
	dw 23
	dd gdt
magic:	dd 0
info:	dd 0

	SERIAL_LIB
text_end:
	times 0x1000 - ($ - $$) db 0

	section low start=0x2000 vstart=LOW
low_start:
	db "segment below 1 MiB", 0
low_end:
