/* The fallback: where KVM gives up on an instruction (KVM_EXIT_INTERNAL_ERROR, suberror
 * KVM_INTERNAL_ERROR_EMULATION), the bt engine's interpreter runs it on the vCPU's state, on
 * the same RAM and devices, and KVM_RUN resumes after it.
 *
 * Software KVMs (PVM) run guest ring 0 through an instruction emulator that lacks some
 * instructions (INT3 and IRETD at CPL 0, CMPXCHG16B); hardware KVM needs its emulator only for
 * MMIO and a few corner cases, and may still fail there. Every fallback is counted by
 * instruction for --stats. docs/kvm.md has the whole story.
 *
 * VMON_KVM_TEST_FALLBACK=EXIT[:N] (EXIT: io or mmio, N: 1..1000, default 1) is for tests: after
 * every such exit the next N instructions run in the fallback as if KVM had failed them, so
 * the path is exercised on any KVM.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/bt/emulate.h"
#include "engine/kvm/kvm_priv.h"
#include "vm.h"
#include "util/log.h"

#define TEST_FALLBACK_MAX	1000

int kvm_fallback_config(struct kvm_vm_priv *kp)
{
	const char *env = getenv("VMON_KVM_TEST_FALLBACK");
	char *end;
	unsigned long n = 1;

	kp->test_fallback_exit = 0;
	if (!env)
		return 0;
	size_t k = strcspn(env, ":");
	if (k == 2 && strncmp(env, "io", 2) == 0)
		kp->test_fallback_exit = KVM_EXIT_IO;
	else if (k == 4 && strncmp(env, "mmio", 4) == 0)
		kp->test_fallback_exit = KVM_EXIT_MMIO;
	if (env[k] == ':') {
		n = strtoul(env + k + 1, &end, 10);
		if (env[k + 1] < '0' || env[k + 1] > '9' || *end)
			n = 0;
	}
	if (!kp->test_fallback_exit || n < 1 || n > TEST_FALLBACK_MAX) {
		vmon_log("VMON_KVM_TEST_FALLBACK=%s: must be io or mmio, optionally :N with N "
			 "1..%d", env, TEST_FALLBACK_MAX);
		return -1;
	}
	kp->test_fallback_insns = (unsigned)n;
	return 0;
}

static struct bt_emulator *emulator(struct vcpu *v)
{
	struct kvm_vcpu_priv *kv = v->engine_priv;

	if (!kv->emulator)
		kv->emulator = bt_emulator_create(v);
	return kv->emulator;
}

void kvm_fallback_free(struct kvm_vcpu_priv *kv)
{
	bt_emulator_destroy(kv->emulator);
	kv->emulator = NULL;
}

/* The count is the publication: a reader on another thread sees a slot's name only once its
 * count is non-zero. */
static void count(struct kvm_vcpu_priv *kv, const char *name)
{
	struct kvm_fallback_count *c = kv->fallbacks;
	int k = 0;

	while (k < KVM_FALLBACK_NAMES - 1 && __atomic_load_n(&c[k].count, __ATOMIC_RELAXED) &&
	       strcmp(c[k].name, name) != 0)
		k++;
	if (!c[k].count)
		snprintf(c[k].name, sizeof(c[k].name), "%s",
			 k == KVM_FALLBACK_NAMES - 1 ? "(others)" : name);
	__atomic_store_n(&c[k].count, c[k].count + 1, __ATOMIC_RELEASE);
}

int kvm_fallback(struct vcpu *v, unsigned max)
{
	struct bt_emulator *e = emulator(v);
	struct bt_insn_text t;
	struct cpu_state s;

	if (!e) {
		snprintf(v->error, sizeof(v->error), "kvm: fallback interpreter: out of memory");
		return VCPU_EXIT_ERROR;
	}
	if (kvm_get_state(v, &s) < 0) {
		snprintf(v->error, sizeof(v->error), "kvm: fallback: cannot read the vCPU state");
		return VCPU_EXIT_ERROR;
	}
	/* Unreadable code is the interpreter's to fault on, as the CPU would. */
	bt_emulator_describe(e, &s, &t);
	count(v->engine_priv, t.name[0] ? t.name : t.bytes);
	if (bt_emulate(e, &s, max) == BT_EMULATE_SHUTDOWN)
		return VCPU_EXIT_SHUTDOWN;
	if (kvm_set_state(v, &s) < 0) {
		snprintf(v->error, sizeof(v->error), "kvm: fallback: cannot write the vCPU state");
		return VCPU_EXIT_ERROR;
	}
	return -1;
}

void kvm_fallback_describe_error(struct vcpu *v)
{
	struct bt_emulator *e = emulator(v);
	struct bt_insn_text t;
	struct cpu_state s;
	size_t n = strlen(v->error);

	if (!e || kvm_get_state(v, &s) < 0)
		return;
	bt_emulator_describe(e, &s, &t);
	snprintf(v->error + n, sizeof(v->error) - n, "; at rip %#llx: %s%s%s%s",
		 (unsigned long long)s.rip, t.bytes, t.name[0] ? " (" : "", t.name,
		 t.name[0] ? ")" : "");
}

void kvm_fallback_totals(struct vm *vm, void (*fn)(void *opaque, const char *name, uint64_t n),
			 void *opaque)
{
	for (int i = 0; i < vm->nr_cpus; i++) {
		const struct kvm_vcpu_priv *kv = vm->vcpu[i] ? vm->vcpu[i]->engine_priv : NULL;

		for (int k = 0; kv && k < KVM_FALLBACK_NAMES; k++) {
			const char *name = kv->fallbacks[k].name;
			uint64_t total = 0;
			bool seen = false;

			if (!__atomic_load_n(&kv->fallbacks[k].count, __ATOMIC_ACQUIRE))
				break;
			/* Once per name: at the first vCPU that has it, summed over all. */
			for (int j = 0; j < vm->nr_cpus && !seen; j++) {
				const struct kvm_vcpu_priv *o = vm->vcpu[j] ? vm->vcpu[j]->engine_priv : NULL;

				for (int m = 0; o && m < KVM_FALLBACK_NAMES; m++) {
					uint64_t c = __atomic_load_n(&o->fallbacks[m].count,
								     __ATOMIC_ACQUIRE);
					if (!c)
						break;
					if (strcmp(o->fallbacks[m].name, name) != 0)
						continue;
					if (j < i)
						seen = true;
					total += c;
				}
			}
			if (!seen)
				fn(opaque, name, total);
		}
	}
}
