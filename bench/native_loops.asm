; The benchmark loops as host functions (SysV ABI): uint64_t loop_NAME(void *buf) returns the
; number of instructions executed, as the guest version prints.
%include "loops.inc"
	bits 64
	default rel
	section .text

%macro HOST_LOOP 2
	global %1
%1:
	push rbx
	mov rsi, rdi
	%2
	pop rbx
	ret
%endmacro

	HOST_LOOP loop_tight, LOOP_TIGHT
	HOST_LOOP loop_alu, LOOP_ALU
	HOST_LOOP loop_mem, LOOP_MEM

	section .note.GNU-stack noalloc noexec nowrite progbits
