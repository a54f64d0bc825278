; An external NMI through LINT1 (the control API's `nmi`), for tests/integration/nmi_button.sh
; (not a tests/guests guest: it needs the NMI from outside). LINT1 is programmed for NMI
; delivery, the CPU halts with IF=0 and prints "ready"; the NMI wakes it into vector 2.
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

LAPIC_SVR	equ 0xfee000f0
LAPIC_LINT1	equ 0xfee00360
DM_NMI		equ 4 << 8

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 2, nmi
	mov dword [LAPIC_SVR], 0x1ff
	mov dword [LAPIC_LINT1], DM_NMI
	PRINT "ready", 10
.wait:	cli
	hlt
	cmp dword [nmis], 0
	je .wait
	PRINT "lint1 nmi "
	HEX [nmis], 1
	PRINT 10
	EXIT 0x2f

nmi:	inc dword [nmis]
	ret

nmis:	dd 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
