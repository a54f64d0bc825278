/* Saved state as bytes: what devices, vCPUs and engines write into a snapshot section and read
 * back. Little-endian, field by field (never a struct image), so the format does not depend on
 * the compiler's layout. The reader is bounds-checked: a short or malformed section sets `bad`
 * and yields zeros, and the loader then refuses the section.
 *
 * A device that has state registers it once with vm_register_state() (usually in its _create
 * function); snapshot.c then saves every registered entry as one section named after it, and a
 * restore hands each section to the entry of the same name.
 */
#ifndef VMON_SNAPSHOT_STATE_H
#define VMON_SNAPSHOT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* A growing buffer; on allocation failure `oom` is set and later writes are dropped. A save
 * that cannot read its state (an engine's ioctl failed) sets `err` to the errno, and the
 * snapshot fails with it. */
struct state_out {
	uint8_t *buf;
	size_t len, cap;
	bool oom;
	int err;
};

struct state_in {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

void state_put(struct state_out *o, const void *p, size_t n);
void state_put_u8(struct state_out *o, uint8_t v);
void state_put_u16(struct state_out *o, uint16_t v);
void state_put_u32(struct state_out *o, uint32_t v);
void state_put_u64(struct state_out *o, uint64_t v);
void state_put_bool(struct state_out *o, bool v);
void state_out_free(struct state_out *o);

void state_get(struct state_in *in, void *p, size_t n);
uint8_t state_get_u8(struct state_in *in);
uint16_t state_get_u16(struct state_in *in);
uint32_t state_get_u32(struct state_in *in);
uint64_t state_get_u64(struct state_in *in);
bool state_get_bool(struct state_in *in);		/* anything but 0 or 1 is bad */
/* A value that must be < limit (indices, counts): bad otherwise. */
uint32_t state_get_below(struct state_in *in, uint32_t limit);
/* Everything read, nothing left over, nothing malformed. */
bool state_in_ok(const struct state_in *in);

#define VM_STATE_NAME_LEN	16	/* section names, NUL included */

/* save writes the device's state; load reads it back into the device (the VM is built from the
 * same configuration but not running) and returns 0, or -1 if a value is out of range. Both run
 * while the vCPUs are parked. */
typedef void (*vm_state_save_fn)(void *opaque, struct state_out *o);
typedef int (*vm_state_load_fn)(void *opaque, struct state_in *in);

/* Returns 0, or -1 if the name is too long, taken, or the table is full. */
int vm_register_state(struct vm *vm, const char *name, vm_state_save_fn save,
		      vm_state_load_fn load, void *opaque);

#endif
