; Boot-sector guest for the kvm benchmarks: 100000 port writes to 0x80 (POST codes, ignored
; by vmon), each one a full exit to the VMM, then the end through isa-debug-exit (port 0xf4).
bits 16
org 0x7c00

OUT_COUNT equ 100000

	out 0x80, al
	mov ecx, OUT_COUNT
.loop:
	out 0x80, al
	dec ecx
	jnz .loop
	xor al, al
	out 0xf4, al
	cli
	hlt

	times 510 - ($ - $$) db 0
	dw 0xaa55
