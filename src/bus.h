/* Port-I/O and MMIO dispatch by address range.
 *
 * Devices never learn which engine runs them: an engine calls vm_pio()/vm_mmio() (vm.h), which
 * land here. Unclaimed reads return all-ones, unclaimed writes are dropped (and counted).
 */
#ifndef VMON_BUS_H
#define VMON_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct io_ops {
	/* off is relative to the registered base; size is 1, 2, 4 or 8. */
	uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
	void (*write)(void *opaque, uint64_t off, unsigned size, uint64_t val);
	/* The device serialises its own accesses (finer than the range): the bus takes no lock. */
	bool self_locked;
};

struct bus_range {
	uint64_t base, len;
	const struct io_ops *ops;
	void *opaque;
	const char *name;
	pthread_mutex_t lock;	/* serializes vCPU threads on one device */
};

#define BUS_MAX_RANGES 64

struct bus {
	int nr;
	struct bus_range range[BUS_MAX_RANGES];	/* sorted by base, non-overlapping */
};

/* Returns 0, or -1 if the range overlaps another or the bus is full. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct io_ops *ops,
		 void *opaque, const char *name);
struct bus_range *bus_find(struct bus *b, uint64_t addr);
/* Returns true if a device claimed the access; *val is all-ones for unclaimed reads. */
bool bus_access(struct bus *b, uint64_t addr, unsigned size, bool write, uint64_t *val);
void bus_destroy(struct bus *b);

#endif
