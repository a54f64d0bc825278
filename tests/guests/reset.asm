; Machine reset through the i8042 (command 0xfe) after leaving a mark in RAM. Under --reboot exit
; (here) vmon ends with status 0 after one boot. tests/integration/reset_tiny.sh runs it with
; --reboot restart: the machine must boot again and again, each time without the mark (a reset
; brings back the power-on RAM), until the test quits it.
; vmon-kind: boot-sector
; vmon-args: --reboot exit
; vmon-exit: 0
; qemu: no
%include "serial.inc"

MARK_ADDR	equ 0x6000		; below the stack, above the IVT and BDA
MARK		equ 0x6b72616d		; "mark"

	org 0x7c00
	bits 16
start:
	cli
	jmp 0:.cs0			; BIOSes differ in CS:IP (0:7c00 vs 7c0:0)
.cs0:	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7c00
	cmp dword [MARK_ADDR], MARK
	je .kept
	PRINT "boot", 10
	mov dword [MARK_ADDR], MARK
	mov al, 0xfe			; i8042: pulse the reset line
	out 0x64, al
	PRINT "no reset", 10
	EXIT EXIT_FAIL
.kept:
	PRINT "RAM kept across the reset", 10
	EXIT EXIT_FAIL

	SERIAL_LIB

	times 510 - ($ - $$) db 0
	dw 0xaa55
