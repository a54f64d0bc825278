/* Machine reset for `--reboot restart` (reset.h). */
#include "reset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "vm.h"

#define IMAGE_NAME	"power-on state"

/* A stream of its own on the image, from its start: snapshot_close() closes only the copy. */
static FILE *open_image(int fd, const char *mode)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	FILE *f = NULL;

	if (copy >= 0 && lseek(copy, 0, SEEK_SET) == 0)
		f = fdopen(copy, mode);
	if (!f && copy >= 0)
		close(copy);
	return f;
}

int reset_image_create(struct vm *vm)
{
	char why[128] = "";
	int fd = memfd_create("vmon-" IMAGE_NAME, MFD_CLOEXEC);
	FILE *f = fd >= 0 ? open_image(fd, "w+b") : NULL;
	int ret = -1;

	if (f) {
		struct snap_writer w;
		uint64_t pages = 0;

		/* Raw RAM records: zstd would take longer than the copy it saves. */
		snap_writer_start(&w, f);
		ret = snapshot_write_all(vm, &w, false, &pages, why, sizeof(why));
		if (!ret)
			ret = snap_writer_end(&w);
		if (fclose(f) != 0)
			ret = -1;
	}
	if (ret < 0) {
		vmon_log("%s: %s", IMAGE_NAME, why[0] ? why : strerror(errno ? errno : EIO));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	vm->reset_fd = fd;
	return 0;
}

int reset_machine(struct vm *vm)
{
	/* Device threads that write guest RAM (vm_hold_unpaused) and a pause from the API wait. */
	pthread_mutex_lock(&vm->pause_lock);

	/* RAM as a new VM has it: all zero (the memfd's pages freed), then what the loader wrote.
	 * Engines drop everything they derived from the old contents. */
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.region[i];
		if (madvise(r->hva, r->size, MADV_REMOVE) < 0)
			memset(r->hva, 0, r->size);
		vm_ram_written(vm, r->gpa, r->size);
	}
	FILE *f = open_image(vm->reset_fd, "rb");
	struct vm_config cfg = vm->cfg;
	struct snapshot_reader *sr = f ? snapshot_open_file(f, IMAGE_NAME, &cfg) : NULL;
	int ret = sr ? snapshot_load(sr, vm) : -1;

	snapshot_close(sr);
	if (!f)
		vmon_log("%s: %s", IMAGE_NAME, strerror(errno));
	atomic_store(&vm->reset_requested, false);
	atomic_store(&vm->stop_requested, false);
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}
