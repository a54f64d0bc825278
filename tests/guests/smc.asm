; Self-modifying code seen by the translation tier: a loop and a function run often enough to be
; translated (the default threshold is 16 runs), then an instruction in each is overwritten from
; another page and they run again: the new code must run, not the old translation.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 75
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call count_loop
	PRINT "loop adds 1: "
	HEX rbx, 4
	PRINT 10
	mov byte [patch_add + 2], 3	; add ebx, 1 -> add ebx, 3
	call count_loop
	PRINT "loop adds 3: "
	HEX rbx, 4
	PRINT 10

	call sum_calls
	PRINT "calls return 5: "
	HEX rbx, 4
	PRINT 10
	mov dword [patch_ret + 1], 7	; mov eax, 5 -> mov eax, 7
	call sum_calls
	PRINT "calls return 7: "
	HEX rbx, 4
	PRINT 10

	; patched between every call, after the callee was hot
	xor ebx, ebx
	mov ecx, 50
.again:
	call patch_ret
	add ebx, eax
	mov [patch_ret + 1], ecx
	dec ecx
	jnz .again
	PRINT "repatched each call: "
	HEX rbx, 4
	PRINT 10
	EXIT 0x25

	SERIAL_LIB

	align 4096			; the patched code lives on its own page
; 100 iterations of ebx += imm
count_loop:
	xor ebx, ebx
	mov ecx, 100
count_top:
patch_add:
	add ebx, 1
	dec ecx
	jnz count_top
	ret

; ebx = sum of 100 calls of patch_ret
sum_calls:
	xor ebx, ebx
	mov ecx, 100
sum_top:
	call patch_ret
	add ebx, eax
	dec ecx
	jnz sum_top
	ret

patch_ret:
	mov eax, 5
	ret

	MULTIBOOT_END
