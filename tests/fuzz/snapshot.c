/* The snapshot loader: `vmon run --restore FILE` (runner_create with cfg.restore), from the
 * container's header through "config", "clock", "devices", RAM records, vCPU state and every
 * device's saved state, into a bt VM with a disk, an RNG and a NIC (the seeds' device set).
 * Input: a snapshot without its "end" section; the harness appends one with the right checksum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "support/vm_input.h"
#include "runner.h"

static struct vm_config cfg;
static int file_fd;
static char file_path[32];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	file_fd = fuzz_memfd("vmon-fuzz-snapshot", "", 0);
	if (file_fd < 0 || fuzz_vm_config(&cfg) < 0) {
		perror("fuzz snapshot: memfd");
		_exit(1);
	}
	snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
	cfg.restore = file_path;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	uint8_t *file = fuzz_with_end(data, size, &len);
	struct runner *r;

	if (fuzz_memfd_set(file_fd, file, len) < 0)
		_exit(1);
	free(file);
	if (runner_create(&cfg, &r) == 0)
		runner_destroy(r);
	return 0;
}
