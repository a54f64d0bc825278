; 100000 empty system calls from 64-bit user mode with Linux's selectors, the kernel side a bare
; SYSRET: bench/direct.sh times it to get the cost of one guest user -> engine -> guest user
; transition of the bt engine's direct execution (and of the same round trip translated).
; kvm-needs: syscall-ring3
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 41
; qemu: yes
%include "serial.inc"
%include "multiboot.inc"
%include "longmode.inc"
%include "idt.inc"
%include "linuxuser.inc"

SYS_EXIT	equ 1
NR_CALLS	equ 100000

	MULTIBOOT_KERNEL
main:
	ENTER_LONG_MODE long_main
long_main:
	call idt_init
	LOAD_TSS TSS_ADDR, RSP0_TOP, RSP0_TOP
	LINUX_USER_SETUP syscall_entry
	LINUX_USER_ENTER user_main, USER_STACK_TOP

user_main:
	mov ebx, NR_CALLS
.call:	xor eax, eax
	syscall
	dec ebx
	jnz .call
	mov eax, SYS_EXIT
	syscall
	ud2

syscall_entry:
	cmp eax, SYS_EXIT
	je .exit
	o64 sysret
.exit:	PRINT "syscallloop ok", 10
	EXIT 0x14

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
