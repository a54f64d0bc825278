; A hostile guest: 60,000 pseudo-random operations (xorshift32, fixed seed) on every I/O port,
; PCI configuration register and MMIO range it can reach, and on the virtqueues of every virtio
; device (run with --disk, --rng and --net user: slots 1-3): device bring-ups, descriptor
; tables full of random addresses, lengths, flags and links, random available indices and
; notifications, MSI-X tables, string I/O. Then it prints "hammer done" and ends through port
; 0xf4 with its own status; vmon must survive all of it (tests/integration/hostile_guests.sh).
;
; Left alone, because they would end or reset this guest rather than test vmon: the exit port
; itself, the i8042 command port (CPU reset), the ACPI PM block (power off), the LAPIC ICR
; (INIT/SIPI to itself) and the delivery-mode bits of interrupt routes (LAPIC LVTs, IOAPIC
; redirections, MSI-X data: an NMI or INIT would end the guest). Device DMA goes to 4-8 MiB
; (scratch) or above 2 GiB (outside RAM), never over this code.
; vmon-kind: kernel
; vmon-exit: 87
%include "serial.inc"
%include "multiboot.inc"
%include "virtio.inc"

OPS		equ 60000
SEED		equ 0x2545f491
CF8		equ 0xcf8
CFC		equ 0xcfc
PCI_LOW		equ 0xc0000000		; BARs below this are not used for MMIO here
IOAPIC		equ 0xfec00000
LAPIC		equ 0xfee00000
RINGS		equ SCRATCH		; slot s: descriptors, avail, used at RINGS + s * 0x10000
DMA_BASE	equ 0x400000		; device buffers: 4-8 MiB
DMA_MASK	equ 0x3ffff0
IOBUF		equ SCRATCH + 0x80000	; string I/O buffer
MSIX_TABLE	equ 0x3800
MSIX_END	equ 0x3c00

	MULTIBOOT_KERNEL
main:
	PRINT "hammer", 10
	mov dword [seed], SEED
	mov dword [left], OPS
.op:	call rand
	and eax, 15
	call [kinds + eax * 4]
	dec dword [left]
	jnz .op

	; The UART as the guest found it, then the verdict.
	mov dx, COM1 + 3
	mov al, 0x03			; 8N1, DLAB off
	out dx, al
	mov dx, COM1 + 1
	xor al, al			; no interrupts
	out dx, al
	mov dx, COM1 + 4
	mov al, 0x03			; DTR, RTS, no loopback
	out dx, al
	PRINT 10, "hammer done", 10
	EXIT 0x2b

kinds:	dd pio_write, pio_write, pio_write, pio_read, pio_read, cfg_write, cfg_write, cfg_read
	dd mmio_write, mmio_write, mmio_write, mmio_read, string_io, virtq, virtq, virtq

; xorshift32 -> eax (edx clobbered).
rand:
	mov eax, [seed]
	mov edx, eax
	shl edx, 13
	xor eax, edx
	mov edx, eax
	shr edx, 17
	xor eax, edx
	mov edx, eax
	shl edx, 5
	xor eax, edx
	mov [seed], eax
	ret

; dx = port: CF set if the port (or a 4-byte access starting at it) reaches a port left alone.
port_banned:
	cmp dx, 0xf4 - 3
	jb .low
	cmp dx, 0xf7
	jbe .yes
.low:	cmp dx, 0x64 - 3
	jb .no
	cmp dx, 0x64
	jbe .yes
	cmp dx, 0x600 - 3
	jb .no
	cmp dx, 0x60f
	jbe .yes
.no:	clc
	ret
.yes:	stc
	ret

; A random port: near the devices half of the time, anywhere otherwise.
random_port:
	call rand
	mov ecx, eax
	test ecx, 1 << 20
	jz .any
	and ecx, 0x3ff
	mov dx, cx
	ret
.any:	mov dx, cx
	ret

; A random port that is not left alone in dx (ecx: the random bits); CF set if there is none.
allowed_port:
	call random_port
	jmp port_banned

pio_write:
	call allowed_port
	jc .skip
	push edx
	call rand
	pop edx
	test ecx, 1 << 16
	jnz .dword
	test ecx, 1 << 17
	jnz .word
	out dx, al
	ret
.word:	out dx, ax
	ret
.dword:	out dx, eax
.skip:	ret

pio_read:
	call allowed_port
	jc .skip
	test ecx, 1 << 16
	jnz .dword
	test ecx, 1 << 17
	jnz .word
	in al, dx
	ret
.word:	in ax, dx
	ret
.dword:	in eax, dx
.skip:	ret

; REP OUTSB / INSB of 1-16 bytes on a random port.
string_io:
	call allowed_port
	jc .skip
	push edx
	call rand
	pop edx
	mov ecx, eax
	and ecx, 15
	inc ecx
	mov esi, IOBUF
	mov edi, IOBUF
	test eax, 1 << 8
	jz .in
	rep outsb
	ret
.in:	rep insb
.skip:	ret

; eax = configuration address (slot, register): a random one of slots 0-7, or of the devices.
random_cfg:
	call rand
	mov ecx, eax
	and eax, 0x7fc | (7 << 11)
	or eax, 0x80000000
	ret

cfg_write:
	call random_cfg
	mov dx, CF8
	out dx, eax
	call rand
	mov dx, CFC
	test ecx, 1 << 20
	jz .dword
	and ecx, 3
	add dx, cx
	out dx, al
	ret
.dword:	out dx, eax
	ret

cfg_read:
	call random_cfg
	mov dx, CF8
	out dx, eax
	mov dx, CFC
	in eax, dx
	ret

; ebx = slot (1-3) -> esi = its BAR 0 if it is a 32-bit address in the PCI window, else CF set.
bar_of:
	mov eax, ebx
	shl eax, 11
	or eax, 0x80000010
	mov dx, CF8
	out dx, eax
	mov dx, CFC
	in eax, dx
	and eax, ~0xf
	mov esi, eax
	cmp esi, PCI_LOW
	jb .no
	mov eax, ebx
	shl eax, 11
	or eax, 0x80000014
	mov dx, CF8
	out dx, eax
	mov dx, CFC
	in eax, dx
	test eax, eax
	jnz .no
	clc
	ret
.no:	stc
	ret

; esi = a random MMIO address, ebp = its size (1, 2, 4), eax = a value safe for it; CF: skip.
random_mmio:
	call rand
	mov ecx, eax
	mov ebp, 1
	test ecx, 1 << 24
	jz .sized
	mov ebp, 4
	test ecx, 1 << 25
	jz .sized
	mov ebp, 2
.sized:	mov eax, ecx
	shr eax, 28
	cmp eax, 9
	jbe .bar
	cmp eax, 12
	jbe .ioapic
	cmp eax, 14
	jbe .lapic
	; The rest of the PCI window (BARs moved there, or nothing).
	mov esi, ecx
	and esi, 0x03fffffc
	add esi, PCI_LOW
	jmp .value
.ioapic:
	mov esi, ecx
	and esi, 0x10
	add esi, IOAPIC
	mov ebp, 4
	jmp .route
.lapic:
	mov esi, ecx
	and esi, 0x3f0
	cmp esi, 0x300			; ICR
	je .skip
	cmp esi, 0x310
	je .skip
	add esi, LAPIC
	mov ebp, 4
	jmp .route
.bar:	mov ebx, ecx
	shr ebx, 12
	and ebx, 3
	jz .skip
	push ecx
	call bar_of
	pop ecx
	jc .skip
	mov edi, ecx
	and edi, 0x3fff
	mov eax, ebp
	dec eax
	not eax
	and edi, eax			; aligned to the size
	add esi, edi
	sub edi, MSIX_TABLE
	cmp edi, MSIX_END - MSIX_TABLE
	jae .value
	and edi, 15
	cmp edi, 8			; an MSI-X entry's data
	jne .value
.route:	call rand
	and eax, ~0x700			; fixed delivery
	clc
	ret
.value:	call rand
	clc
	ret
.skip:	stc
	ret

mmio_write:
	call random_mmio
	jc .skip
	cmp ebp, 1
	je .byte
	cmp ebp, 2
	je .word
	mov [esi], eax
	ret
.word:	mov [esi], ax
	ret
.byte:	mov [esi], al
.skip:	ret

mmio_read:
	call random_mmio
	jc .skip
	cmp ebp, 1
	je .byte
	mov eax, [esi]
	ret
.byte:	mov al, [esi]
.skip:	ret

; A virtqueue of a random device: half the time brought up afresh (reset, every offered feature
; taken, queue 0 or 1 of 2-16 entries on its rings), then random descriptors, available entries
; and index, and a notification of a random queue.
virtq:
	call rand
	mov ebx, eax
	and ebx, 3
	jz .skip
	push eax
	call bar_of
	pop ecx
	jc .skip
	mov edi, ebx
	shl edi, 16
	add edi, RINGS			; this slot's rings
	test ecx, 1 << 8
	jz .fill
	mov byte [esi + DEV_STATUS], 0
	mov byte [esi + DEV_STATUS], 3
	mov dword [esi], 0		; device_feature_select
	mov eax, [esi + 4]
	mov dword [esi + 8], 0
	mov [esi + 12], eax
	mov dword [esi], 1
	mov eax, [esi + 4]
	mov dword [esi + 8], 1
	mov [esi + 12], eax
	mov byte [esi + DEV_STATUS], 11
	mov eax, ecx
	shr eax, 9
	and eax, 1
	mov [esi + Q_SELECT], ax
	mov eax, ecx
	shr eax, 10
	and eax, 3
	inc eax
	mov edx, 1
	xchg eax, ecx
	shl edx, cl
	xchg eax, ecx
	mov [esi + Q_SIZE], dx
	mov [esi + Q_DESC], edi
	mov dword [esi + Q_DESC + 4], 0
	lea eax, [edi + 0x1000]
	mov [esi + Q_AVAIL], eax
	mov dword [esi + Q_AVAIL + 4], 0
	lea eax, [edi + 0x2000]
	mov [esi + Q_USED], eax
	mov dword [esi + Q_USED + 4], 0
	mov word [esi + Q_ENABLE], 1
	mov byte [esi + DEV_STATUS], 15
.fill:	; 16 descriptors
	xor ebx, ebx
.desc:	call rand
	mov ecx, eax
	and eax, DMA_MASK
	add eax, DMA_BASE
	test ecx, 0xf
	jnz .inram
	or eax, 0x80000000		; outside RAM
.inram:	mov [edi + ebx * 8], eax
	mov dword [edi + ebx * 8 + 4], 0
	call rand
	and eax, 0x000f1fff		; len up to 8 KiB
	mov [edi + ebx * 8 + 8], eax
	call rand
	and eax, 0x000f0007		; flags NEXT|WRITE|INDIRECT, next 0-15
	mov [edi + ebx * 8 + 12], eax
	add ebx, 2
	cmp ebx, 32
	jb .desc
	; available ring: flags, index 0-7 ahead, 8 entries
	call rand
	mov ecx, eax
	and eax, 0x000f000f
	mov [edi + 0x1004], eax
	mov [edi + 0x1008], eax
	mov [edi + 0x100c], eax
	mov [edi + 0x1010], eax
	mov eax, ecx
	shr eax, 8
	and eax, 1
	mov [edi + 0x1000], ax
	mov eax, ecx
	shr eax, 12
	and eax, 7
	add [edi + 0x1002], ax
	; notify queue 0 or 1
	mov eax, ecx
	shr eax, 16
	and eax, 1
	mov [esi + NOTIFY + eax * 4], ax
.skip:	ret

seed:	dd 0
left:	dd 0

	SERIAL_LIB
	MULTIBOOT_END
