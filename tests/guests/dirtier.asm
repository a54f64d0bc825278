; A guest that dirties memory as fast as it can: a 16 MiB buffer at 16 MiB is filled with a
; pattern, then for a while (1 s of guest time; 5 s with "long" on its command line, 40 s with
; "nest": the kvm engine nested under QEMU TCG, where migrating takes longer) every
; iteration rewrites the first dword of each of its 4096 pages with (iteration << 16 | page)
; and reads them all back; at the end every dword of the buffer is checked.
; tests/integration/migrate_tiny.sh migrates it mid-run: pre-copy cannot converge (every page
; is dirty again in every round), and the target must still end with "verify ok".
; vmon-kind: kernel
; vmon-args: --mem 64M
; vmon-exit: 65
; kvm-needs: ring0-speed
; qemu: no
%include "serial.inc"
%include "multiboot.inc"

BUF		equ 0x1000000
PAGES		equ 4096
BUF_END		equ BUF + PAGES * 4096
SEED		equ 0x9e3779b9
TSC_HZ		equ 2000000000		; vmon's guest TSC (QEMU's differs: not a QEMU guest)
MBI_FLAGS	equ 0
MBI_CMDLINE	equ 16
MBI_HAS_CMDLINE	equ 1 << 2

	MULTIBOOT_KERNEL
main:
	mov ebx, [mb_info]
	test dword [ebx + MBI_FLAGS], MBI_HAS_CMDLINE
	jz .fill_start
	mov esi, [ebx + MBI_CMDLINE]
.scan:	cmp byte [esi], 0
	je .fill_start
	cmp dword [esi], 'long'
	je .long
	cmp dword [esi], 'nest'
	je .nest
	inc esi
	jmp .scan
.nest:	mov dword [seconds], 40
	jmp .fill_start
.long:	mov dword [seconds], 5

.fill_start:
	mov edi, BUF			; every dword: its address ^ SEED
.fill:	mov eax, edi
	xor eax, SEED
	mov [edi], eax
	add edi, 4
	cmp edi, BUF_END
	jb .fill
	PRINT "filled", 10

	mov eax, [seconds]		; deadline (ebp:esi) = TSC + seconds * TSC_HZ
	mov ecx, TSC_HZ
	mul ecx
	mov esi, eax
	mov ebp, edx
	rdtsc
	add esi, eax
	adc ebp, edx
	xor ebx, ebx			; iteration

.iter:	inc ebx
	mov edi, BUF
	mov eax, ebx
	shl eax, 16
.write:	mov [edi], eax
	inc eax
	add edi, 4096
	cmp edi, BUF_END
	jb .write
	mov edi, BUF
	mov eax, ebx
	shl eax, 16
.read:	cmp [edi], eax
	jne .bad
	inc eax
	add edi, 4096
	cmp edi, BUF_END
	jb .read
	rdtsc
	cmp edx, ebp
	jb .iter
	ja .check
	cmp eax, esi
	jb .iter

.check:	mov edi, BUF			; the rest of every page still holds the fill pattern
.next:	test edi, 4095
	jz .skip
	mov eax, edi
	xor eax, SEED
	cmp [edi], eax
	jne .bad
.skip:	add edi, 4
	cmp edi, BUF_END
	jb .next
	PRINT "verify ok", 10
	EXIT 0x20
.bad:	PRINT "verify BAD", 10
	EXIT 0x21

seconds: dd 1

	SERIAL_LIB
	MULTIBOOT_END
