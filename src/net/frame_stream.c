/* Length-prefixed Ethernet frames on a stream socket (frame_stream.h). */
#include <string.h>

#include "net/frame_stream.h"

uint8_t *frame_reader_space(struct frame_reader *r, size_t *room)
{
	/* Whatever is left is shorter than one whole frame: moved down, there is room for the
	 * rest of it. */
	if (r->start) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	*room = sizeof(r->buf) - r->end;
	return r->buf + r->end;
}

void frame_reader_fill(struct frame_reader *r, size_t n)
{
	r->end += n;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **frame, size_t *len)
{
	size_t have = r->end - r->start;

	if (have < FRAME_HDR)
		return 0;
	const uint8_t *p = r->buf + r->start;
	uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (n == 0 || n > FRAME_MAX)
		return -1;
	if (have < FRAME_HDR + (size_t)n)
		return 0;
	*frame = p + FRAME_HDR;
	*len = n;
	r->start += FRAME_HDR + n;
	return 1;
}

void frame_reader_unget(struct frame_reader *r, size_t len)
{
	r->start -= FRAME_HDR + len;
}

void frame_put_header(uint8_t hdr[FRAME_HDR], size_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}
