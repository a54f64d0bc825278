/* QEMU's firmware configuration device (fw_cfg), as its specification describes it
 * (docs/specs/fw_cfg.rst in QEMU's sources): how SeaBIOS learns about the machine.
 *
 * Port 0x510 selects an item (16-bit write), port 0x511 reads its bytes one at a time, and the
 * DMA interface at 0x514 (big-endian address, high half at 0x514, low half at 0x518; the write of
 * the low half starts the transfer) moves whole ranges to and from guest RAM. Items are numbered
 * ones (signature, ID, RAM size, CPU count, ...) and named files listed in the file directory
 * (item 0x19). All of them are read-only for the guest.
 */
#ifndef VMON_HW_FW_CFG_H
#define VMON_HW_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct fw_cfg;

#define FW_CFG_PORT		0x510
#define FW_CFG_RAM_SIZE		0x03
#define FW_CFG_NB_CPUS		0x05
#define FW_CFG_MAX_CPUS		0x0f
#define FW_CFG_FILE_DIR		0x19
#define FW_CFG_FILE_FIRST	0x20
#define FW_CFG_FILE_NAME	56

/* Registers the ports; NULL if they are taken or memory is short. */
struct fw_cfg *fw_cfg_create(struct vm *vm);
void fw_cfg_destroy(struct fw_cfg *f);

/* Adds item key (a copy of data). -1 if out of memory or the key is taken. */
int fw_cfg_add(struct fw_cfg *f, uint16_t key, const void *data, size_t len);
/* Adds a named file (name shorter than 56 bytes). */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len);

/* The I/O handlers, for tests: off is relative to FW_CFG_PORT. */
uint64_t fw_cfg_io_read(void *opaque, uint64_t off, unsigned size);
void fw_cfg_io_write(void *opaque, uint64_t off, unsigned size, uint64_t val);

#endif
