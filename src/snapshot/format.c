/* The snapshot container: header, named sections with lengths, CRC-32 trailer (format.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "host_file.h"
#include "snapshot/format.h"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void write_raw(struct snap_writer *w, const void *p, size_t n)
{
	if (w->failed || !n)
		return;
	if (fwrite(p, 1, n, w->f) != n) {
		w->failed = true;
		return;
	}
	w->crc = (uint32_t)crc32(w->crc, p, (uInt)n);
	w->bytes += n;
}

void snap_writer_start(struct snap_writer *w, FILE *f)
{
	uint8_t hdr[SNAP_HEADER_SIZE] = SNAP_MAGIC;

	*w = (struct snap_writer){ .f = f, .crc = (uint32_t)crc32(0, NULL, 0) };
	put32(hdr + 8, SNAP_VERSION);
	put32(hdr + 12, 0);
	write_raw(w, hdr, sizeof(hdr));
}

int snap_writer_open(struct snap_writer *w, const char *path, const char **why)
{
	int fd = host_file_open(path, HOST_FILE_CREATE_FLAGS, 0666, false, why);
	FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;

	if (!f) {
		if (fd >= 0) {
			*why = strerror(errno);
			close(fd);
		}
		return -1;
	}
	snap_writer_start(w, f);
	return 0;
}

void snap_write_section(struct snap_writer *w, const char *name, const void *p, uint32_t len)
{
	uint8_t hdr[SNAP_SECTION_HEADER] = { 0 };

	if (strlen(name) > SNAP_NAME_LEN || len > SNAP_MAX_SECTION) {
		w->failed = true;	/* a vmon bug: never write what no reader takes */
		errno = EINVAL;
		return;
	}
	memcpy(hdr, name, strlen(name));
	put32(hdr + SNAP_NAME_LEN, len);
	write_raw(w, hdr, sizeof(hdr));
	write_raw(w, p, len);
}

int snap_writer_end(struct snap_writer *w)
{
	uint8_t sum[4];

	uint8_t hdr[SNAP_SECTION_HEADER] = "end";
	put32(hdr + SNAP_NAME_LEN, sizeof(sum));
	write_raw(w, hdr, sizeof(hdr));
	put32(sum, w->crc);
	if (!w->failed && fwrite(sum, 1, sizeof(sum), w->f) != sizeof(sum))
		w->failed = true;
	w->bytes += sizeof(sum);
	if (!w->failed && fflush(w->f) != 0)
		w->failed = true;
	if (w->failed && !errno)
		errno = EIO;
	return w->failed ? -1 : 0;
}

int snap_writer_finish(struct snap_writer *w)
{
	int err = snap_writer_end(w) < 0 ? errno : 0;

	if (!err && fsync(fileno(w->f)) != 0)
		err = errno;
	if (fclose(w->f) != 0 && !err)
		err = errno;
	w->f = NULL;
	errno = err;
	return err ? -1 : 0;
}

void snap_writer_abort(struct snap_writer *w)
{
	if (w->f)
		fclose(w->f);
	w->f = NULL;
}

const char *snap_error_str(enum snap_error e)
{
	switch (e) {
	case SNAP_OK: return "ok";
	case SNAP_ERR_IO: return "read error";
	case SNAP_ERR_MAGIC: return "bad magic";
	case SNAP_ERR_VERSION: return "unsupported version";
	case SNAP_ERR_TRUNCATED: return "truncated";
	case SNAP_ERR_LENGTH: return "bad section length";
	case SNAP_ERR_CHECKSUM: return "checksum mismatch";
	case SNAP_ERR_NOMEM: return "out of memory";
	}
	return "?";
}

static enum snap_error read_raw(struct snap_reader *r, void *p, size_t n, bool sum)
{
	if (n > r->left)
		return SNAP_ERR_TRUNCATED;
	if (fread(p, 1, n, r->f) != n)
		return ferror(r->f) ? SNAP_ERR_IO : SNAP_ERR_TRUNCATED;
	r->left -= n;
	if (sum)
		r->crc = (uint32_t)crc32(r->crc, p, (uInt)n);
	return SNAP_OK;
}

enum snap_error snap_reader_open(struct snap_reader *r, FILE *f)
{
	struct stat st;
	uint8_t hdr[SNAP_HEADER_SIZE];

	*r = (struct snap_reader){ .f = f, .crc = (uint32_t)crc32(0, NULL, 0) };
	if (fstat(fileno(f), &st) < 0)
		return SNAP_ERR_IO;
	/* A socket or pipe (migration) has no size: it ends at "end". */
	r->stream = !S_ISREG(st.st_mode);
	r->left = r->stream ? UINT64_MAX : st.st_size > 0 ? (uint64_t)st.st_size : 0;
	enum snap_error e = read_raw(r, hdr, sizeof(hdr), true);
	if (e == SNAP_ERR_TRUNCATED || (e == SNAP_OK && memcmp(hdr, SNAP_MAGIC, 8) != 0))
		return SNAP_ERR_MAGIC;
	if (e)
		return e;
	if (get32(hdr + 8) != SNAP_VERSION || get32(hdr + 12) != 0)
		return SNAP_ERR_VERSION;
	return SNAP_OK;
}

enum snap_error snap_read_section(struct snap_reader *r, char name[SNAP_NAME_LEN + 1],
				  const uint8_t **p, uint32_t *len)
{
	uint8_t hdr[SNAP_SECTION_HEADER];
	enum snap_error e = read_raw(r, hdr, sizeof(hdr), true);

	if (e)
		return e;
	memcpy(name, hdr, SNAP_NAME_LEN);
	name[SNAP_NAME_LEN] = 0;
	*len = get32(hdr + SNAP_NAME_LEN);
	if (*len > SNAP_MAX_SECTION)
		return SNAP_ERR_LENGTH;
	if (*len > r->left)
		return SNAP_ERR_TRUNCATED;
	if (strcmp(name, "end") == 0) {
		uint8_t sum[4];
		uint32_t want = r->crc;
		if (*len != sizeof(sum))
			return SNAP_ERR_LENGTH;
		e = read_raw(r, sum, sizeof(sum), false);
		if (e)
			return e;
		*p = NULL;
		return get32(sum) == want ? SNAP_OK : SNAP_ERR_CHECKSUM;
	}
	if (*len > r->cap) {
		uint8_t *b = realloc(r->buf, *len);
		if (!b)
			return SNAP_ERR_NOMEM;
		r->buf = b;
		r->cap = *len;
	}
	e = read_raw(r, r->buf, *len, true);
	*p = r->buf;
	return e;
}

void snap_reader_close(struct snap_reader *r)
{
	if (r->f)
		fclose(r->f);
	free(r->buf);
	*r = (struct snap_reader){ 0 };
}
