/* The length-prefixed frame stream between virtio-net and its backend (src/net/frame_stream.h):
 * frames split across reads come out whole, a length no frame can have breaks the stream, and
 * random bytes never make the reader step outside its buffer (ASan watches). */
#include <stdlib.h>
#include <string.h>

#include "net/frame_stream.h"
#include "test.h"

/* Feeds len bytes in pieces of at most step; returns how many frames came out (-1: broken). */
static int feed(struct frame_reader *r, const uint8_t *bytes, size_t len, size_t step,
		size_t *total)
{
	int frames = 0;

	while (len) {
		size_t room;
		uint8_t *space = frame_reader_space(r, &room);
		size_t n = len < step ? len : step;
		if (n > room)
			n = room;
		memcpy(space, bytes, n);
		frame_reader_fill(r, n);
		bytes += n;
		len -= n;

		const uint8_t *frame;
		size_t flen;
		int got;
		while ((got = frame_reader_next(r, &frame, &flen)) == 1) {
			frames++;
			*total += flen;
		}
		if (got < 0)
			return -1;
	}
	return frames;
}

TEST(frame_stream_reassembles_split_frames)
{
	static struct frame_reader r;
	static uint8_t stream[3 * (FRAME_HDR + FRAME_MAX)];
	const size_t lens[] = { 60, FRAME_MAX, 1, 1514 };
	size_t off = 0, want = 0, total = 0;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		frame_put_header(stream + off, lens[i]);
		memset(stream + off + FRAME_HDR, (int)i, lens[i]);
		off += FRAME_HDR + lens[i];
		want += lens[i];
	}
	CHECK_EQ(feed(&r, stream, off, 7, &total), 4);
	CHECK_EQ(total, want);

	memset(&r, 0, sizeof(r));
	total = 0;
	CHECK_EQ(feed(&r, stream, off, sizeof(stream), &total), 4);
}

TEST(frame_stream_unget_returns_the_frame_again)
{
	static struct frame_reader r;
	uint8_t bytes[FRAME_HDR + 3] = { 0, 0, 0, 3, 'a', 'b', 'c' };
	size_t total = 0;
	const uint8_t *frame;
	size_t len;

	CHECK_EQ(feed(&r, bytes, sizeof(bytes), sizeof(bytes), &total), 1);
	frame_reader_unget(&r, 3);
	CHECK_EQ(frame_reader_next(&r, &frame, &len), 1);
	CHECK_EQ(len, 3);
	CHECK(memcmp(frame, "abc", 3) == 0);
	CHECK_EQ(frame_reader_next(&r, &frame, &len), 0);
}

TEST(frame_stream_refuses_impossible_lengths)
{
	static struct frame_reader r;
	uint8_t zero[FRAME_HDR] = { 0 };
	uint8_t huge[FRAME_HDR];
	size_t total = 0;

	CHECK_EQ(feed(&r, zero, sizeof(zero), 4, &total), -1);
	memset(&r, 0, sizeof(r));
	frame_put_header(huge, FRAME_MAX + 1);
	CHECK_EQ(feed(&r, huge, sizeof(huge), 4, &total), -1);
}

TEST(frame_stream_survives_random_bytes)
{
	static struct frame_reader r;
	static uint8_t bytes[1 << 16];

	srand(10);
	for (int round = 0; round < 200; round++) {
		size_t total = 0;
		memset(&r, 0, sizeof(r));
		for (size_t i = 0; i < sizeof(bytes); i++)
			bytes[i] = (uint8_t)rand();
		/* Mostly small lengths, so that frames do come out. */
		for (size_t i = 0; i + 4 < sizeof(bytes); i += 1 + (size_t)(rand() % 2000)) {
			bytes[i] = 0;
			bytes[i + 1] = (uint8_t)(rand() % 2);
		}
		feed(&r, bytes, sizeof(bytes), 1 + (size_t)(rand() % 5000), &total);
	}
	CHECK(1);
}
