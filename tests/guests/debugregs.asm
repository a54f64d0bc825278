; Debug registers in 32-bit protected mode: an instruction breakpoint (#DB fault at the
; instruction, DR6.B0; RF set in the frame lets it run once, then it fires again next time),
; data breakpoints on writes (lengths 4, 2, 1) and on reads or writes (length 8) as traps after
; the accessing instruction, only for accesses that overlap them, an I/O breakpoint with
; CR4.DE, DR7.GD (a MOV DR faults with DR6.BD, GD is clear in the handler) and single-step
; held off for the instruction after MOV SS.
; vmon-only because QEMU TCG ignores DR7.GD; every other line matches QEMU TCG.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 87
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

RF		equ 1 << 16
TF		equ 1 << 8
CR4_DE		equ 1 << 3
DR7_GD		equ 1 << 13
; DR7 for breakpoint n: local enable, RW (0 exec, 1 write, 2 I/O, 3 read/write), LEN code.
%define DR7_BP(n, rw, len) ((1 << (2 * (n))) | ((rw) << (16 + 4 * (n))) | ((len) << (18 + 4 * (n))))

; TRY "name", insn...: clear the #DB record, run the instruction(s), print how many #DB came,
; DR6's low bits and BD/BS, and where the last one returned to (the label `.after` follows the
; instruction(s), `.at` precedes them).
%macro TRY 2+
	mov dword [dbs], 0
	mov dword [db_ip], 0
%%at:	%2
%%after:
	PRINT %1, ": #DB "
	HEX [dbs], 1
	PRINT " dr6 "
	HEX [db_dr6], 8
	mov eax, [db_ip]
	cmp eax, %%after
	je %%trap
	cmp eax, %%at
	je %%fault
	PRINT 10
	jmp %%done
%%trap:	PRINT " (trap)", 10
	jmp %%done
%%fault:
	PRINT " (fault)", 10
%%done:
%endmacro

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 1, db

	; Instruction breakpoint on `target`, called twice.
	mov eax, target
	mov dr0, eax
	mov eax, DR7_BP(0, 0, 0)
	mov dr7, eax
	mov dword [dbs], 0
	call target
	call target
	PRINT "instruction breakpoint: #DB "
	HEX [dbs], 1
	PRINT " dr6 "
	HEX [db_dr6], 8
	PRINT " at target "
	mov eax, [db_ip]
	cmp eax, target
	sete al
	HEX eax, 1
	PRINT ", ran "
	HEX [target_runs], 1
	PRINT 10

	; Data breakpoints: DR1 write, 4 bytes; DR2 read/write, 8 bytes; DR3 write, 2 bytes;
	; DR0 write, 1 byte.
	mov eax, var4
	mov dr1, eax
	mov eax, var8
	mov dr2, eax
	mov eax, var2
	mov dr3, eax
	mov eax, var1
	mov dr0, eax
	mov eax, DR7_BP(0, 1, 0) | DR7_BP(1, 1, 3) | DR7_BP(2, 3, 2) | DR7_BP(3, 1, 1)
	mov dr7, eax
	TRY "write len 4", mov dword [var4], 1
	TRY "write len 4, byte 3", mov byte [var4 + 3], 1
	TRY "read len 4", mov eax, [var4]
	TRY "write after len 4", mov byte [var4 + 4], 1
	TRY "read len 8, byte 7", mov al, [var8 + 7]
	TRY "write len 8", mov dword [var8], 2
	TRY "write len 2, byte 1", mov byte [var2 + 1], 1
	TRY "write after len 2", mov byte [var2 + 2], 1
	TRY "write len 1", mov byte [var1], 1
	TRY "write after len 1", mov byte [var1 + 1], 1
	TRY "add to len 4", add dword [var4], 5

	; I/O breakpoint on port 0x80 (DR0, 1 byte), with CR4.DE.
	mov eax, cr4
	or eax, CR4_DE
	mov cr4, eax
	mov eax, 0x80
	mov dr0, eax
	mov eax, DR7_BP(0, 2, 0)
	mov dr7, eax
	TRY "out 0x80", out 0x80, al
	TRY "out 0x81", out 0x81, al

	; DR7.GD: the next MOV DR faults with BD; the handler finds GD clear and returns to it.
	mov eax, DR7_GD
	mov dr7, eax
	TRY "mov from dr0 with gd", mov eax, dr0
	mov eax, dr7
	PRINT "dr7 after "
	HEX eax, 8
	PRINT 10

	; Single-step: set TF; MOV SS holds the trap off until after the next instruction.
	xor eax, eax
	mov dr7, eax
	mov dword [dbs], 0
	mov dword [clear_tf], 1
	mov dx, ss
	pushfd
	or dword [esp], TF
	popfd
	mov ss, dx
after_movss:
	nop
after_nop:
	PRINT "single-step after mov ss: #DB "
	HEX [dbs], 1
	PRINT " dr6 "
	HEX [db_dr6], 8
	PRINT " after the next instruction "
	mov eax, [db_ip]
	cmp eax, after_nop
	sete al
	HEX eax, 1
	PRINT 10
	PRINT "debugregs ok", 10
	EXIT 0x2b

target:	inc dword [target_runs]
	ret

; #DB: record, clear DR6; a fault at an instruction breakpoint returns with RF set; with
; clear_tf, single-stepping stops.
db:	inc dword [dbs]
	mov eax, [ebx + FRAME_IP]
	mov [db_ip], eax
	mov eax, dr6
	mov [db_dr6], eax
	xor eax, eax
	mov dr6, eax
	or dword [ebx + FRAME_FLAGS], RF
	cmp dword [clear_tf], 0
	je .ret
	and dword [ebx + FRAME_FLAGS], ~TF
	mov dword [clear_tf], 0
.ret:	ret

dbs:		dd 0
db_ip:		dd 0
db_dr6:		dd 0
clear_tf:	dd 0
target_runs:	dd 0
	align 16
var4:		dd 0, 0
var8:		dq 0, 0
var2:		dd 0, 0
var1:		dd 0, 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
