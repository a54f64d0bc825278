; Interpreter benchmark guest: times each loop of loops.inc with RDTSC (vmon's guest TSC runs at a
; fixed advertised rate) and prints "NAME INSNS TSC_DELTA" per loop, then exits with status 1.
; Built as a multiboot kernel with the test guests' skeleton.
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "loops.inc"

BUF		equ 0x400000		; 1 MiB buffer inside the identity-mapped 8 MiB

%macro TIME_LOOP 2			; name string, loop macro
	rdtsc
	shl rdx, 32
	or rax, rdx
	mov r15, rax
	mov rsi, BUF
	%2
	mov r14, rax
	rdtsc
	shl rdx, 32
	or rax, rdx
	sub rax, r15
	mov r15, rax
	PRINT %1, " "
	HEX r14, 16
	PRINT " "
	HEX r15, 16
	PRINT 10
%endmacro

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	TIME_LOOP "tight", LOOP_TIGHT
	TIME_LOOP "alu", LOOP_ALU
	TIME_LOOP "mem", LOOP_MEM
	EXIT 0

	SERIAL_LIB
	MULTIBOOT_END
