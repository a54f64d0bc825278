/* Little-endian state buffers (see state.h) and the VM's table of device states. */
#include <stdlib.h>
#include <string.h>

#include "snapshot/state.h"
#include "vm.h"

void state_put(struct state_out *o, const void *p, size_t n)
{
	if (o->oom)
		return;
	if (n > o->cap - o->len) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap - o->len < n)
			cap *= 2;
		uint8_t *b = realloc(o->buf, cap);
		if (!b) {
			o->oom = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put_le(struct state_out *o, uint64_t v, unsigned bytes)
{
	uint8_t b[8];

	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	state_put(o, b, bytes);
}

void state_put_u8(struct state_out *o, uint8_t v) { put_le(o, v, 1); }
void state_put_u16(struct state_out *o, uint16_t v) { put_le(o, v, 2); }
void state_put_u32(struct state_out *o, uint32_t v) { put_le(o, v, 4); }
void state_put_u64(struct state_out *o, uint64_t v) { put_le(o, v, 8); }
void state_put_bool(struct state_out *o, bool v) { put_le(o, v, 1); }

void state_out_free(struct state_out *o)
{
	free(o->buf);
	*o = (struct state_out){ 0 };
}

void state_get(struct state_in *in, void *p, size_t n)
{
	if (in->bad || n > in->len - in->off) {
		in->bad = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, in->p + in->off, n);
	in->off += n;
}

static uint64_t get_le(struct state_in *in, unsigned bytes)
{
	uint8_t b[8];
	uint64_t v = 0;

	state_get(in, b, bytes);
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

uint8_t state_get_u8(struct state_in *in) { return (uint8_t)get_le(in, 1); }
uint16_t state_get_u16(struct state_in *in) { return (uint16_t)get_le(in, 2); }
uint32_t state_get_u32(struct state_in *in) { return (uint32_t)get_le(in, 4); }
uint64_t state_get_u64(struct state_in *in) { return get_le(in, 8); }

bool state_get_bool(struct state_in *in)
{
	uint8_t v = state_get_u8(in);

	if (v > 1)
		in->bad = true;
	return v == 1;
}

uint32_t state_get_below(struct state_in *in, uint32_t limit)
{
	uint32_t v = state_get_u32(in);

	if (v >= limit) {
		in->bad = true;
		return 0;
	}
	return v;
}

bool state_in_ok(const struct state_in *in)
{
	return !in->bad && in->off == in->len;
}

int vm_register_state(struct vm *vm, const char *name, vm_state_save_fn save,
		      vm_state_load_fn load, void *opaque)
{
	if (strlen(name) >= VM_STATE_NAME_LEN || vm->nr_state >= VM_MAX_STATE)
		return -1;
	for (int i = 0; i < vm->nr_state; i++)
		if (strcmp(vm->state[i].name, name) == 0)
			return -1;
	struct vm_state_entry *e = &vm->state[vm->nr_state++];
	strcpy(e->name, name);
	e->save = save;
	e->load = load;
	e->opaque = opaque;
	return 0;
}
