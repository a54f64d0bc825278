; A hostile guest on --net user: malformed frames (no header, a short virtio header, runts, bad
; IPv4 header lengths and versions, lying UDP/IP/ARP lengths, TCP options past the end, a
; truncated ICMP header, IPv6 and unknown ethertypes), oversized frames (a 96 KiB chain, the
; largest frame and one byte more), and frames split across many descriptors. vmon must pass
; what it gets to the network or drop it, and the network must still work afterwards: an ARP
; request split over 15 descriptors gets its reply, an ICMP echo to 10.0.2.2 split over three
; gets its echo. Fragmented IPv4 is netfrag's (tests/integration/hostile_guests.sh).
; vmon-kind: kernel
; vmon-exit: 91
%include "serial.inc"
%include "multiboot.inc"

BIG		equ 0x2000000			; the oversized frames (32 MiB up)
BIG_LEN		equ 3 * 32768

	MULTIBOOT_KERNEL
%include "hostile/virtio_net.inc"
%include "hostile/net_common.inc"
main:
	PRINT "netabuse", 10
	call net_up
	jc fail_up
	; The oversized frames: 'A's behind an IPv4/UDP header to 10.0.2.2:9 claiming 65535 bytes.
	mov edi, BIG
	mov ecx, BIG_LEN + 4096
	mov al, 'A'
	rep stosb
	mov esi, big_head
	mov edi, BIG
	mov ecx, big_head_end - big_head
	rep movsb
	mov esi, BIG + VIRTIO_HDR
	call ip_csum
	mov esi, udp_lie + VIRTIO_HDR
	call ip_csum
	mov esi, tcp_opts + VIRTIO_HDR
	call ip_csum
	mov esi, icmp_short + VIRTIO_HDR
	call ip_csum

	mov ebp, malformed
.next:	mov ecx, [ebp]
	test ecx, ecx
	jz .sent
	lea esi, [ebp + 4]
	push ecx
	call tx_chain
	pop ecx
	jc fail_tx
	lea ebp, [ebp + 4 + ecx * 8]
	jmp .next
.sent:	PRINT "malformed sent", 10

	; ARP over 15 descriptors: 12 one-byte pieces (the virtio header), then 13, 13, 16.
	mov ecx, 15
	mov esi, arp_split
	call tx_chain
	jc fail_tx
	mov ebx, is_arp_reply
	call rx_wait
	jc fail_rx
	PRINT "arp reply", 10

	; An ICMP echo to 10.0.2.2, its Ethernet header split over the first two descriptors.
	mov esi, echo + VIRTIO_HDR
	call ip_csum
	mov word [echo + VIRTIO_HDR + ETH + 20 + 2], 0
	mov esi, echo + VIRTIO_HDR + ETH + 20
	mov edi, esi
	add edi, 2
	mov ecx, echo_end - echo - VIRTIO_HDR - ETH - 20
	call csum_at
	mov ecx, 3
	mov esi, echo_split
	call tx_chain
	jc fail_tx
	mov ebx, is_echo_reply
	call rx_wait
	jc fail_rx
	PRINT "echo reply", 10
	EXIT 0x2d

fail_up:
	PRINT "no NIC", 10
	EXIT EXIT_FAIL
fail_tx:
	PRINT "a frame was not completed", 10
	EXIT EXIT_FAIL
fail_rx:
	PRINT "no reply", 10
	EXIT EXIT_FAIL

; Chains: a count, then (address, length) pairs; a zero count ends the list.
malformed:
	dd 1, runt, 0				; an empty buffer
	dd 1, runt, 5				; a short virtio header
	dd 1, runt, VIRTIO_HDR			; the header alone
	dd 1, runt, VIRTIO_HDR + 1		; a 1-byte frame
	dd 1, eth_only, eth_only_end - eth_only
	dd 1, ihl15, ihl15_end - ihl15
	dd 1, ihl0, ihl0_end - ihl0
	dd 1, ip_long, ip_long_end - ip_long
	dd 1, ipv6_in_v4, ipv6_in_v4_end - ipv6_in_v4
	dd 1, arp_bad, arp_bad_end - arp_bad
	dd 1, udp_lie, udp_lie_end - udp_lie
	dd 1, tcp_opts, tcp_opts_end - tcp_opts
	dd 1, icmp_short, icmp_short_end - icmp_short
	dd 1, ipv6, ipv6_end - ipv6
	dd 1, odd_type, odd_type_end - odd_type
	dd 3, BIG, 32768, BIG + 32768, 32768, BIG + 65536, 32768
	dd 1, BIG, VIRTIO_HDR + 65535 + ETH	; the largest frame
	dd 1, BIG, VIRTIO_HDR + 65535 + ETH + 1	; one byte more
	dd 2, runt, 0, runt, VIRTIO_HDR + 1	; an empty first buffer
	dd 0

%macro IP_TO_HOST 3	; total length, protocol: an IPv4 header from the guest to 10.0.2.2
	db 0x45, 0, (%1) >> 8, (%1) & 0xff, 0x12, 0x34, 0x40, 0, 64, %2, 0, 0, GUEST_IP, HOST_IP
%endmacro

runt:	times VIRTIO_HDR db 0
	db 0xff
eth_only:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
eth_only_end:
ihl15:	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	db 0x4f, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, GUEST_IP, HOST_IP
ihl15_end:
ihl0:	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	db 0x40, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, GUEST_IP, HOST_IP
ihl0_end:
ip_long:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_TO_HOST 0xffff, 17, 0
ip_long_end:
ipv6_in_v4:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	db 0x65, 0, 0, 40
	times 36 db 0x66
ipv6_in_v4_end:
arp_bad:
	times VIRTIO_HDR db 0
	db 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, GUEST_MAC, 0x08, 0x06
	db 0x00, 0x01, 0x08, 0x00, 0xff, 0xff, 0x00, 0x01
arp_bad_end:
udp_lie:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_TO_HOST 20 + 8 + 4, 17, 0
	db 0x12, 0x34, 0x00, 0x09, 0xff, 0xff, 0, 0	; UDP length 65535
	db "lie!"
udp_lie_end:
tcp_opts:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_TO_HOST 20 + 20, 6, 0
	db 0x12, 0x34, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 0
	db 0xf0, 0x02, 0x10, 0x00, 0, 0, 0, 0		; data offset 15 (60 bytes), SYN
tcp_opts_end:
icmp_short:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_TO_HOST 21, 1, 0
	db 8					; one byte of ICMP
icmp_short_end:
ipv6:	times VIRTIO_HDR db 0
	db 0x33, 0x33, 0, 0, 0, 1, GUEST_MAC, 0x86, 0xdd
	db 0x60, 0, 0, 0, 0xff, 0xff, 58, 255
	times 32 db 0xfe
ipv6_end:
odd_type:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x12, 0x34
	times 46 db 0x5a
odd_type_end:

big_head:
	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_TO_HOST 0xffff, 17, 0
	db 0x12, 0x34, 0x00, 0x09, 0xff, 0xeb, 0, 0
big_head_end:

arp:	ARP_REQUEST
arp_end:
arp_split:
%assign i 0
%rep 12
	dd arp + i, 1
%assign i i + 1
%endrep
	dd arp + 12, 13, arp + 25, 13, arp + 38, arp_end - arp - 38

echo:	times VIRTIO_HDR db 0
	db HOST_MAC, GUEST_MAC, 0x08, 0x00
	IP_TO_HOST 20 + 8 + 32, 1, 0
	db 8, 0, 0, 0, 0x12, 0x34, 0, 1			; echo request, id 0x1234, seq 1
	db "vmon hostile guest echo payload!"
echo_end:
echo_split:
	dd echo, VIRTIO_HDR + 5, echo + VIRTIO_HDR + 5, 9
	dd echo + VIRTIO_HDR + 14, echo_end - echo - VIRTIO_HDR - 14

	SERIAL_LIB
	MULTIBOOT_END
