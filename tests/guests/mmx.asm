; MMX in 32-bit protected mode: MMn aliases the mantissa of x87 register Rn (after FLD1 with
; TOP = 7, MM7 reads 1.0's mantissa), an MMX instruction sets TOP to 0 and tags every register
; valid, a write sets the exponent field to all ones, EMMS empties the tag word and sets TOP 0, FXSAVE and
; FXRSTOR carry the MM registers; packed arithmetic (add/sub with saturation, multiplies, PMADDWD,
; unpack high, packs, shifts, compares, PSHUFW, PINSRW/PEXTRW, PMOVMSKB, PSADBW, MOVD); CR0.EM
; makes MMX #UD and CR0.TS #NM.
; vmon-only because QEMU TCG leaves bits 64-79 of a register an MMX instruction writes as they
; were (the SDM, Vol. 1 9.5.1, sets them to all ones) and EMMS leaves TOP alone (Table 9-3, and
; the host CPU, set it to 0); every other line matches QEMU TCG.
; vmon-kind: kernel
; vmon-args:
; vmon-exit: 83
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "idt.inc"

FXAREA		equ SCRATCH		; 512 bytes, 16-byte aligned
ENV		equ SCRATCH + 0x400	; FNSTENV image (28 bytes)
CR0_MP		equ 1 << 1
CR0_EM		equ 1 << 2
CR0_TS		equ 1 << 3
CR4_OSFXSR	equ 1 << 9

; SHOWQ "name", mmreg: prints name and the register's 64 bits.
%macro SHOWQ 2
	movq [qtmp], %2
	PRINT %1, " "
	HEX [qtmp + 4], 8
	HEX [qtmp], 8
	PRINT 10
%endmacro

; OP "name", insn, a, b: mm0 = a, mm1 = b, insn mm0, mm1, print mm0.
%macro OP 4
	movq mm0, [%3]
	movq mm1, [%4]
	%2 mm0, mm1
	SHOWQ %1, mm0
%endmacro

	MULTIBOOT_KERNEL
main:
	call idt_init
	SET_HANDLER 6, ud
	SET_HANDLER 7, nm
	mov eax, cr0
	and eax, ~(CR0_EM | CR0_TS)
	or eax, CR0_MP
	mov cr0, eax
	mov eax, cr4
	or eax, CR4_OSFXSR
	mov cr4, eax

	; Aliasing: FLD1 goes to R7 (TOP 7); MMX makes TOP 0, so MM7 is R7.
	fninit
	fld1
	movq mm1, mm7
	SHOWQ "mm7 after fld1", mm1
	fnstenv [ENV]
	PRINT "fsw "
	HEX [ENV + 4], 4
	PRINT " ftw "
	HEX [ENV + 8], 4
	PRINT 10

	; A write: exponent all ones, abridged tags all valid (FXSAVE).
	mov eax, 0x89abcdef
	movd mm2, eax
	fxsave [FXAREA]
	PRINT "fxsave: ftw "
	HEX byte [FXAREA + 4], 2
	PRINT " st2 "
	HEX word [FXAREA + 32 + 2 * 16 + 8], 4
	HEX [FXAREA + 32 + 2 * 16 + 4], 8
	HEX [FXAREA + 32 + 2 * 16], 8
	PRINT 10

	; FXRSTOR: MM3 from a changed image.
	mov dword [FXAREA + 32 + 3 * 16], 0x11223344
	mov dword [FXAREA + 32 + 3 * 16 + 4], 0x55667788
	fxrstor [FXAREA]
	SHOWQ "mm3 after fxrstor", mm3

	; EMMS: all empty, and TOP 0 again after FLD1 moved it to 7.
	emms
	fld1
	emms
	fnstenv [ENV]
	PRINT "after fld1, emms: fsw "
	HEX [ENV + 4], 4
	PRINT " ftw "
	HEX [ENV + 8], 4
	PRINT 10

	OP "paddb", paddb, qa, qb
	OP "paddusb", paddusb, qa, qb
	OP "psubsw", psubsw, qa, qb
	OP "pmullw", pmullw, qa, qb
	OP "pmulhw", pmulhw, qa, qb
	OP "pmaddwd", pmaddwd, qa, qb
	OP "punpcklbw", punpcklbw, qa, qb
	OP "punpckhbw", punpckhbw, qa, qb
	OP "punpckhdq", punpckhdq, qa, qb
	OP "packsswb", packsswb, qa, qb
	OP "packuswb", packuswb, qa, qb
	OP "packssdw", packssdw, qa, qb
	OP "pcmpeqb", pcmpeqb, qa, qa2
	OP "pcmpgtw", pcmpgtw, qa, qb
	OP "psraw", psraw, qa, qcount
	OP "psllq", psllq, qa, qcount
	OP "pxor", pxor, qa, qb
	OP "pandn", pandn, qa, qb
	OP "paddq", paddq, qa, qb
	OP "pmuludq", pmuludq, qa, qb
	OP "pavgb", pavgb, qa, qb
	OP "psadbw", psadbw, qa, qb
	OP "pminub", pminub, qa, qb
	movq mm4, [qa]
	psrlq mm4, 12
	SHOWQ "psrlq 12", mm4
	psrad mm4, 3
	SHOWQ "psrad 3", mm4
	pshufw mm5, [qa], 0x1b
	SHOWQ "pshufw 1b", mm5
	mov eax, 0xbeef
	pinsrw mm5, eax, 2
	SHOWQ "pinsrw 2", mm5
	pextrw eax, mm5, 3
	PRINT "pextrw 3 "
	HEX eax, 8
	PRINT 10
	pmovmskb eax, mm5
	PRINT "pmovmskb "
	HEX eax, 8
	PRINT 10
	movd eax, mm5
	PRINT "movd "
	HEX eax, 8
	PRINT 10
	emms

	; CR0.EM: #UD; CR0.TS: #NM (the handlers clear the bit again).
	mov eax, cr0
	or eax, CR0_EM
	mov cr0, eax
	paddb mm0, mm1
	mov eax, cr0
	or eax, CR0_TS
	mov cr0, eax
	paddb mm0, mm1
	emms
	PRINT "mmx ok", 10
	EXIT 0x29

ud:	PRINT "#UD", 10
	mov eax, cr0
	and eax, ~CR0_EM
	mov cr0, eax
	ret

nm:	PRINT "#NM", 10
	clts
	ret

	align 8
qa:	dq 0x8001_7fff_00ff_1280
qa2:	dq 0x8001_7ffe_00ff_1281
qb:	dq 0x7fff_0002_ff01_80f0
qcount:	dq 4
qtmp:	dq 0

	SERIAL_LIB
	IDT_LIB
	MULTIBOOT_END
