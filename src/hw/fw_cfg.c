/* fw_cfg: items, the file directory, the byte-wise data port and DMA (see fw_cfg.h). */
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "hw/fw_cfg.h"
#include "vm.h"

#define SEL_PORT		0x0	/* 0x510 */
#define DATA_PORT		0x1	/* 0x511 */
#define DMA_HIGH		0x4	/* 0x514 */
#define DMA_LOW			0x8	/* 0x518 */
#define PORTS			12

#define KEY_SIGNATURE		0x0000
#define KEY_ID			0x0001
#define ID_TRADITIONAL		(1u << 0)
#define ID_DMA			(1u << 1)
#define MAX_ITEMS		64
#define DIR_ENTRY		64	/* be32 size, be16 select, be16 reserved, name[56] */

/* The DMA access structure's control word. */
#define DMA_ERROR		(1u << 0)
#define DMA_READ		(1u << 1)
#define DMA_SKIP		(1u << 2)
#define DMA_SELECT		(1u << 3)
#define DMA_WRITE		(1u << 4)
#define DMA_MAX_LEN		(1u << 24)	/* per request: bounds the copy buffer */

/* "QEMU CFG": what a read of the DMA address register returns, to show DMA is there. */
static const uint8_t dma_signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };

struct fw_cfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
};

struct fw_cfg {
	struct vm *vm;
	int nr;
	struct fw_cfg_item item[MAX_ITEMS];
	int nr_files;
	uint8_t *dir;			/* the file directory, rebuilt as files are added */
	uint16_t selected;
	uint32_t offset;		/* next byte of the selected item */
	uint32_t dma_high;
};

static struct fw_cfg_item *find(struct fw_cfg *f, uint16_t key)
{
	for (int i = 0; i < f->nr; i++)
		if (f->item[i].key == key)
			return &f->item[i];
	return NULL;
}

/* Replaces an item's bytes (the file directory grows with each file). */
static int set(struct fw_cfg *f, uint16_t key, const void *data, size_t len)
{
	struct fw_cfg_item *it = find(f, key);
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy || len > UINT32_MAX || (!it && f->nr == MAX_ITEMS)) {
		free(copy);
		return -1;
	}
	memcpy(copy, data, len);
	if (!it) {
		it = &f->item[f->nr++];
		it->key = key;
	} else {
		free(it->data);
	}
	it->data = copy;
	it->len = (uint32_t)len;
	return 0;
}

int fw_cfg_add(struct fw_cfg *f, uint16_t key, const void *data, size_t len)
{
	return find(f, key) ? -1 : set(f, key, data, len);
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len)
{
	size_t dir_len = 4 + (size_t)(f->nr_files + 1) * DIR_ENTRY;
	uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + f->nr_files);
	uint8_t *dir;

	if (strlen(name) >= FW_CFG_FILE_NAME || len > UINT32_MAX ||
	    !(dir = realloc(f->dir, dir_len)))
		return -1;
	f->dir = dir;
	uint8_t *e = dir + 4 + (size_t)f->nr_files * DIR_ENTRY;
	memset(e, 0, DIR_ENTRY);
	put_be32(e, (uint32_t)len);
	put_be16(e + 4, key);
	strcpy((char *)e + 8, name);
	put_be32(dir, (uint32_t)f->nr_files + 1);
	if (fw_cfg_add(f, key, data, len) < 0 || set(f, FW_CFG_FILE_DIR, dir, dir_len) < 0)
		return -1;
	f->nr_files++;
	return 0;
}

static void select_item(struct fw_cfg *f, uint16_t key)
{
	f->selected = key;
	f->offset = 0;
}

/* The selected item's bytes from the current offset: how many of want there are. */
static uint32_t available(struct fw_cfg *f, const uint8_t **p, uint32_t want)
{
	const struct fw_cfg_item *it = find(f, f->selected);

	if (!it || f->offset >= it->len) {
		*p = NULL;
		return 0;
	}
	*p = it->data + f->offset;
	return it->len - f->offset < want ? it->len - f->offset : want;
}

/* One DMA request: the access structure at gpa (big-endian control, length, address). */
static void dma(struct fw_cfg *f, uint64_t gpa)
{
	uint8_t acc[16], status[4] = { 0 };

	if (mem_read(&f->vm->mem, gpa, acc, sizeof(acc)) < 0)
		return;
	uint32_t control = get_be32(acc), len = get_be32(acc + 4);
	uint64_t addr = (uint64_t)get_be32(acc + 8) << 32 | get_be32(acc + 12);
	bool error = false;

	if (control & DMA_SELECT)
		select_item(f, (uint16_t)(control >> 16));
	if (control & DMA_WRITE) {
		error = true;		/* every item is read-only */
	} else if (control & (DMA_READ | DMA_SKIP)) {
		const uint8_t *src;
		uint32_t n = available(f, &src, len);
		if (control & DMA_READ) {
			/* Past the item's end the guest reads zeros, as from the data port. */
			uint8_t *buf = len <= DMA_MAX_LEN ? calloc(1, len ? len : 1) : NULL;
			if (!buf) {
				error = true;
			} else {
				if (n)
					memcpy(buf, src, n);
				error = vm_dma_write(f->vm, addr, buf, len) < 0;
				free(buf);
			}
		}
		f->offset += n;
	}
	if (error)
		put_be32(status, DMA_ERROR);
	vm_dma_write(f->vm, gpa, status, sizeof(status));
}

uint64_t fw_cfg_io_read(void *opaque, uint64_t off, unsigned size)
{
	struct fw_cfg *f = opaque;
	uint64_t v = 0;

	if (off == DATA_PORT) {
		const uint8_t *p;
		if (available(f, &p, 1)) {
			f->offset++;
			return *p;
		}
		return 0;
	}
	if (off >= DMA_HIGH && off + size <= DMA_HIGH + 8) {
		/* Big-endian register: its first byte is the lowest port. */
		for (unsigned i = 0; i < size; i++)
			v |= (uint64_t)dma_signature[off - DMA_HIGH + i] << (8 * i);
		return v;
	}
	return ~0ull;
}

static uint32_t bswap_bytes(uint64_t val, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v = v << 8 | (uint8_t)(val >> (8 * i));
	return v;
}

void fw_cfg_io_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
	struct fw_cfg *f = opaque;

	if (off == SEL_PORT && size == 2)
		select_item(f, (uint16_t)val);
	else if (off == DMA_HIGH && size == 4)
		f->dma_high = bswap_bytes(val, 4);
	else if (off == DMA_LOW && size == 4) {
		dma(f, (uint64_t)f->dma_high << 32 | bswap_bytes(val, 4));
		f->dma_high = 0;
	}
}

static const struct io_ops fw_cfg_ops = { .read = fw_cfg_io_read, .write = fw_cfg_io_write };

struct fw_cfg *fw_cfg_create(struct vm *vm)
{
	struct fw_cfg *f = calloc(1, sizeof(*f));
	uint8_t id[4] = { ID_TRADITIONAL | ID_DMA };
	uint8_t no_files[4] = { 0 };

	if (!f)
		return NULL;
	f->vm = vm;
	if (fw_cfg_add(f, KEY_SIGNATURE, "QEMU", 4) < 0 || fw_cfg_add(f, KEY_ID, id, 4) < 0 ||
	    fw_cfg_add(f, FW_CFG_FILE_DIR, no_files, 4) < 0 ||
	    bus_register(&vm->pio, FW_CFG_PORT, PORTS, &fw_cfg_ops, f, "fw_cfg") < 0) {
		fw_cfg_destroy(f);
		return NULL;
	}
	return f;
}

void fw_cfg_destroy(struct fw_cfg *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->nr; i++)
		free(f->item[i].data);
	free(f->dir);
	free(f);
}
