; Multiboot v1 hand-over: EAX magic, memory sizes for --mem 64M (mem_upper: 64 MiB - 1 MiB in
; KiB, or up to 1 MiB less where firmware keeps the top of RAM, as SeaBIOS does), the command line and one page-aligned module with its contents. The command line is
; printed from the word "mbtest" on, since loaders may put the kernel's path first (QEMU does).
; vmon-kind: kernel
; vmon-args: --mem 64M --cmdline "mbtest answer=42 flag" --initrd tests/guests/module.txt
; vmon-exit: 53
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"

MBI_FLAGS	equ 0
MBI_MEM_LOWER	equ 4
MBI_MEM_UPPER	equ 8
MBI_CMDLINE	equ 16
MBI_MODS_COUNT	equ 20
MBI_MODS_ADDR	equ 24
MBI_HAS_MEM	equ 1 << 0
MBI_HAS_CMDLINE	equ 1 << 2
MBI_HAS_MODS	equ 1 << 3
MEM_UPPER_KB	equ 64 * 1024 - 1024	; --mem 64M

	MULTIBOOT_KERNEL
main:
	PRINT "multiboot", 10
	cmp dword [mb_magic], MB_BOOT_MAGIC
	je .magic
	PRINT "bad magic "
	HEX dword [mb_magic], 8
	PRINT 10
	EXIT EXIT_FAIL
.magic:	PRINT "magic ok", 10
	mov ebx, [mb_info]

	test dword [ebx + MBI_FLAGS], MBI_HAS_MEM
	jz .no_mem
	mov eax, [ebx + MBI_MEM_LOWER]
	cmp eax, 512			; conventional memory: 512-640 KiB
	jb .bad_lower
	cmp eax, 640
	ja .bad_lower
	mov eax, [ebx + MBI_MEM_UPPER]
	cmp eax, MEM_UPPER_KB
	ja .bad_upper
	cmp eax, MEM_UPPER_KB - 1024
	jbe .bad_upper
	PRINT "mem_lower ok, mem_upper ok", 10
.no_mem:

	test dword [ebx + MBI_FLAGS], MBI_HAS_CMDLINE
	jz .no_cmdline
	mov esi, [ebx + MBI_CMDLINE]
.find:	cmp byte [esi], 0
	je .no_cmdline
	mov edi, word_mbtest
	mov ecx, word_mbtest_len
	push esi
	repe cmpsb
	pop esi
	je .found
	inc esi
	jmp .find
.found:	PRINT "cmdline '"
	call serial_puts
	PRINT "'", 10
.no_cmdline:

	test dword [ebx + MBI_FLAGS], MBI_HAS_MODS
	jz .no_mods
	PRINT "mods_count "
	HEX dword [ebx + MBI_MODS_COUNT], 2
	cmp dword [ebx + MBI_MODS_COUNT], 0
	je .no_mods
	mov edx, [ebx + MBI_MODS_ADDR]
	mov esi, [edx]			; mod_start
	mov ecx, [edx + 4]		; mod_end
	sub ecx, esi
	PRINT ", size "
	HEX ecx, 4
	test esi, 0xfff
	jnz .unaligned
	PRINT ", page aligned", 10
.byte:	lodsb
	call serial_putc
	loop .byte
.no_mods:
	PRINT "multiboot ok", 10
	EXIT 0x1a

.bad_upper:
	PRINT "bad mem_upper "
	HEX eax, 8
	PRINT 10
	EXIT EXIT_FAIL
.bad_lower:
	PRINT "bad mem_lower "
	HEX eax, 8
	PRINT 10
	EXIT EXIT_FAIL
.unaligned:
	PRINT ", unaligned module at "
	HEX esi, 8
	PRINT 10
	EXIT EXIT_FAIL

word_mbtest:	db "mbtest"
word_mbtest_len	equ $ - word_mbtest

	SERIAL_LIB
	MULTIBOOT_END
