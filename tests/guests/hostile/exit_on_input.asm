; Ends through port 0xf4 the moment a byte arrives on COM1, while it keeps dirtying 16 MiB of
; RAM (so that a migration always has pages to send again). Prints "ready" first.
; tests/integration/hostile_exit.sh sends that byte while the VM is migrating, saving a snapshot
; or paused: vmon must end with this guest's status and leave nothing behind.
; vmon-kind: kernel
; vmon-exit: 99
%include "serial.inc"
%include "multiboot.inc"

DIRTY_BASE	equ 0x1000000
DIRTY_PAGES	equ 4096

	MULTIBOOT_KERNEL
main:
	PRINT "ready", 10
	xor ebx, ebx
.loop:	mov eax, ebx
	and eax, DIRTY_PAGES - 1
	shl eax, 12
	inc dword [DIRTY_BASE + eax]
	inc ebx
	mov dx, COM1_LSR
	in al, dx
	test al, 1			; data ready
	jz .loop
	mov dx, COM1
	in al, dx
	PRINT "exit", 10
	EXIT 0x31

	SERIAL_LIB
	MULTIBOOT_END
