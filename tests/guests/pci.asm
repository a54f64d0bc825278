; PCI and a hostile virtio driver: configuration mechanism #1 (host bridge IDs, a word access at
; 0xCFE, an empty slot), BAR sizing of the virtio-rng function, then virtqueues that loop or point
; outside RAM. The device must answer DEVICE_NEEDS_RESET (status bit 0x40) without completing
; anything, vmon must survive, and after a reset the same queue serves a good request.
; vmon-only: QEMU places its devices differently.
; vmon-kind: kernel
; vmon-args: --rng
; vmon-exit: 47
; qemu: no
%include "serial.inc"
%include "multiboot.inc"
%include "virtio.inc"

CF8		equ 0xcf8
CFC		equ 0xcfc
SLOT1		equ 0x80000000 | (1 << 11)
DESC		equ SCRATCH
AVAIL		equ SCRATCH + 0x1000
USED		equ SCRATCH + 0x2000
BUF		equ SCRATCH + 0x3000

	MULTIBOOT_KERNEL
main:
	PRINT "pci", 10
	mov eax, 0x80000000
	call cfg_read
	PRINT "host "
	HEX eax, 8
	mov eax, SLOT1
	call cfg_read
	PRINT " slot1 "
	HEX eax, 8
	mov eax, SLOT1
	mov dx, CF8
	out dx, eax
	mov dx, CFC + 2
	xor eax, eax
	in ax, dx
	PRINT " device "
	HEX eax, 4
	mov eax, SLOT1 + 8
	call cfg_read
	PRINT " class "
	HEX eax, 8
	mov eax, 0x80000000 | (9 << 11)
	call cfg_read
	PRINT " slot9 "
	HEX eax, 8
	PRINT 10

	mov eax, SLOT1 + 0x10
	call cfg_read
	mov [bar], eax
	PRINT "bar0 "
	HEX eax, 8
	mov eax, SLOT1 + 0x10
	mov ebx, 0xffffffff
	call cfg_write
	mov eax, SLOT1 + 0x10
	call cfg_read
	PRINT " sized "
	HEX eax, 8
	mov eax, SLOT1 + 0x10
	mov ebx, [bar]
	call cfg_write
	PRINT 10

	; A loop: descriptor 0 -> 1 -> 0.
	call driver_up
	mov dword [DESC], BUF
	mov dword [DESC + 8], 16
	mov dword [DESC + 12], 3 | (1 << 16)	; NEXT | WRITE, next 1
	mov dword [DESC + 16], BUF
	mov dword [DESC + 24], 16
	mov dword [DESC + 28], 3		; NEXT | WRITE, next 0
	call kick
	PRINT "loop: "
	call report

	; A buffer outside guest RAM.
	call driver_up
	mov dword [DESC], 0xf0000000
	mov dword [DESC + 8], 4096
	mov dword [DESC + 12], 2		; WRITE
	call kick
	PRINT "outside ram: "
	call report

	; After a reset the device serves a good chain: 16 random bytes.
	call driver_up
	mov dword [DESC], BUF
	mov dword [DESC + 8], 16
	mov dword [DESC + 12], 2
	call kick
	PRINT "good: "
	call report
	PRINT "used len "
	HEX dword [USED + 8], 8
	PRINT 10
	PRINT "pci ok", 10
	EXIT 0x17

; eax = configuration address -> eax = dword.
cfg_read:
	mov dx, CF8
	out dx, eax
	mov dx, CFC
	in eax, dx
	ret

; eax = configuration address, ebx = value.
cfg_write:
	mov dx, CF8
	out dx, eax
	mov dx, CFC
	mov eax, ebx
	out dx, eax
	ret

; Reset, negotiate VERSION_1 only, queue 0 of 8 entries on clean rings, DRIVER_OK.
driver_up:
	mov esi, [bar]
	mov byte [esi + DEV_STATUS], 0
	mov edi, DESC
	mov ecx, 0x3000 / 4
	xor eax, eax
	rep stosd
	mov byte [esi + DEV_STATUS], 3
	mov dword [esi + 8], 1			; driver_feature_select = 1
	mov dword [esi + 12], 1			; bit 32: VERSION_1
	mov byte [esi + DEV_STATUS], 11
	mov word [esi + Q_SELECT], 0
	mov word [esi + Q_SIZE], 8
	mov dword [esi + Q_DESC], DESC
	mov dword [esi + Q_DESC + 4], 0
	mov dword [esi + Q_AVAIL], AVAIL
	mov dword [esi + Q_AVAIL + 4], 0
	mov dword [esi + Q_USED], USED
	mov dword [esi + Q_USED + 4], 0
	mov word [esi + Q_ENABLE], 1
	mov byte [esi + DEV_STATUS], 15
	ret

; Offer descriptor 0 and notify queue 0.
kick:
	mov word [AVAIL + 4], 0
	mov word [AVAIL + 2], 1
	mov esi, [bar]
	mov word [esi + NOTIFY], 0
	ret

; Device status and the used index.
report:
	mov esi, [bar]
	movzx eax, byte [esi + DEV_STATUS]
	PRINT "status "
	HEX eax, 2
	movzx eax, word [USED + 2]
	PRINT " used "
	HEX eax, 4
	PRINT 10
	ret

bar:	dd 0

	SERIAL_LIB
	MULTIBOOT_END
