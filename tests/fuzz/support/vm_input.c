/* Shared set-up of the snapshot and migration harnesses (vm_input.h). */
#include "vm_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz.h"
#include "snapshot/format.h"
#include "vm.h"

int fuzz_vm_config(struct vm_config *cfg)
{
	static const uint8_t zero[FUZZ_DISK_BYTES];
	int fd = fuzz_memfd("vmon-fuzz-disk", zero, sizeof(zero));

	if (fd < 0)
		return -1;
	*cfg = (struct vm_config){
		.engine = ENGINE_BT,
		.console = CONSOLE_NONE,
		.nr_disks = 1,
		.rng = true,
		.net_user = true,
		.no_sandbox = true,
	};
	snprintf(cfg->disk[0].path, sizeof(cfg->disk[0].path), "/proc/self/fd/%d", fd);
	return 0;
}

uint8_t *fuzz_with_end(const uint8_t *data, size_t size, size_t *len)
{
	uint8_t *buf = malloc(size + SNAP_SECTION_HEADER + 4);

	if (!buf)
		abort();
	memcpy(buf, data, size);
	memset(buf + size, 0, SNAP_SECTION_HEADER);
	memcpy(buf + size, "end", 3);
	buf[size + SNAP_NAME_LEN] = 4;
	size += SNAP_SECTION_HEADER;
	uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), buf, (uInt)size);
	for (int i = 0; i < 4; i++)
		buf[size + i] = (uint8_t)(crc >> (8 * i));
	*len = size + 4;
	return buf;
}
