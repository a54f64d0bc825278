; A hostile guest on --net user sending fragmented IPv4: an ICMP echo to 10.0.2.2 in two
; fragments (its echo must come back), then the lone UDP fragment that crashed vmon inside
; libslirp's reassembly (issue 10: 54 bytes, 10.0.2.15 -> 10.0.2.255, offset 0xbd, no MF) and
; its relatives (overlapping pieces, the largest offset, a first fragment that is never
; completed). vmon must survive them all: an ARP request afterwards gets its reply.
; vmon-kind: kernel
; vmon-exit: 95
%include "serial.inc"
%include "multiboot.inc"

	MULTIBOOT_KERNEL
%include "hostile/virtio_net.inc"
%include "hostile/net_common.inc"
main:
	PRINT "netfrag", 10
	call net_up
	jc .no_nic
	mov ebp, frames
.csum:	mov esi, [ebp]
	test esi, esi
	jz .ready
	add esi, VIRTIO_HDR
	call ip_csum
	add ebp, 8
	jmp .csum
.ready:	; ARP first: slirp learns the guest's address and can answer.
	call arp_answered

	mov esi, frames
	call send
	mov esi, frames + 8
	call send
	mov ebx, is_echo_reply
	call rx_wait
	jc no_rx
	PRINT "fragmented echo reply", 10

	mov esi, frames + 16
.next:	cmp dword [esi], 0
	je .sent
	push esi
	call send
	pop esi
	add esi, 8
	jmp .next
.sent:	PRINT "hostile fragments sent", 10
	call arp_answered
	PRINT "arp reply", 10
	EXIT 0x2f
.no_nic:
	PRINT "no NIC", 10
	EXIT EXIT_FAIL

; The frame described by the (address, length) pair at esi, as one chain.
send:	mov ecx, 1
	call tx_chain
	jc no_tx
	ret

; An ARP request, and its reply.
arp_answered:
	mov esi, arp_chain
	call send
	mov ebx, is_arp_reply
	call rx_wait
	jc no_rx
	ret

no_tx:	PRINT "a frame was not completed", 10
	EXIT EXIT_FAIL
no_rx:	PRINT "no reply", 10
	EXIT EXIT_FAIL

; IPv4 from the guest: total length, fragment field (flags << 13 | offset / 8), protocol, dest.
%macro IP_FRAG 4
	db 0x45, 0, (%1) >> 8, (%1) & 0xff, 0x56, 0x78, (%2) >> 8, (%2) & 0xff, 64, %3, 0, 0
	db GUEST_IP, %4
%endmacro
MF		equ 1 << 13

; (frame, length) for each, ending with a zero frame.
frames:	dd echo1, echo1_end - echo1
	dd echo2, echo2_end - echo2
	dd lone, lone_end - lone
	dd first, first_end - first
	dd overlap, overlap_end - overlap
	dd farthest, farthest_end - farthest
	dd lone, lone_end - lone
	dd 0, 0

echo1:	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_FRAG 20 + 24, MF | 0, 1, {HOST_IP}
	db 8, 0, 0x1b, 0x35, 0x12, 0x34, 0, 2
	db "fragmented echo,"
echo1_end:
echo2:	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_FRAG 20 + 16, 3, 1, {HOST_IP}
	db " in two pieces!!"
echo2_end:
lone:	times VIRTIO_HDR db 0
	db 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GUEST_MAC, 0x08, 0x00
	IP_FRAG 20 + 20, 0xbd, 17, {10, 0, 2, 255}
	db 0x00, 0x44, 0x00, 0x43, 0x00, 0x14, 0x00, 0x00
	db "hostile frag"
lone_end:
first:	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_FRAG 20 + 16, MF | 0, 17, {HOST_IP}
	db 0x12, 0x34, 0x00, 0x09, 0x01, 0x00, 0x00, 0x00
	db "never completed"
	db 0
first_end:
overlap:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_FRAG 20 + 24, MF | 1, 17, {HOST_IP}
	times 24 db 0x6f
overlap_end:
farthest:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_FRAG 20 + 24, 0x1fff, 17, {HOST_IP}
	times 24 db 0x7a
farthest_end:

arp:	ARP_REQUEST
arp_end:
arp_chain:
	dd arp, arp_end - arp

	SERIAL_LIB
	MULTIBOOT_END
