; Boot-sector guest for the kvm benchmarks: its first instruction exits to the VMM (port 0x80,
; POST codes, ignored by vmon), then it ends the VM through isa-debug-exit (port 0xf4).
bits 16
org 0x7c00

	out 0x80, al
	xor al, al
	out 0xf4, al
	cli
	hlt

	times 510 - ($ - $$) db 0
	dw 0xaa55
