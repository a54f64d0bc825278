/* Ethernet frames over a stream socket, as QEMU's `-netdev stream` and passt frame them: a
 * 4-byte big-endian length, then that many bytes of frame. vmon's virtio-net and its network
 * backend (passt, or vmon's own slirp helper) speak it in both directions.
 *
 * The reader takes bytes from the other side, which vmon does not trust: a length of 0 or
 * above FRAME_MAX can only come from a broken or compromised peer and ends the stream. */
#ifndef VMON_NET_FRAME_STREAM_H
#define VMON_NET_FRAME_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR	4
#define FRAME_MAX	(65535 + 14)	/* the largest IPv4 packet in an Ethernet header */

struct frame_reader {
	size_t start, end;		/* unconsumed bytes: buf[start, end) */
	uint8_t buf[2 * (FRAME_HDR + FRAME_MAX)];
};

/* Where the next read() goes and how much room is there: 0 only while complete frames wait to
 * be taken (whatever is left after them is less than one frame, and there is room for it). */
uint8_t *frame_reader_space(struct frame_reader *r, size_t *room);
/* n bytes were read into frame_reader_space(). */
void frame_reader_fill(struct frame_reader *r, size_t n);
/* The next complete frame: 1 (*frame, *len set; valid until the next frame_reader_ call), 0 if more bytes
 * are needed, -1 if the stream is broken (a length no frame can have). */
int frame_reader_next(struct frame_reader *r, const uint8_t **frame, size_t *len);

/* Puts back the frame frame_reader_next() just returned (len bytes): the next call returns it
 * again. */
void frame_reader_unget(struct frame_reader *r, size_t len);

/* The length prefix of a frame of len bytes (0 < len <= FRAME_MAX). */
void frame_put_header(uint8_t hdr[FRAME_HDR], size_t len);

#endif
