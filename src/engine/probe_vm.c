/* The throw-away probe VM (probe_vm.h). */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "boot/entry.h"
#include "engine/probe_vm.h"

static void *vcpu_thread(void *arg)
{
	struct probe_vm *p = arg;

	while (!atomic_load(&p->vm.stop_requested)) {
		enum vcpu_exit e = p->vm.engine->vcpu_run(&p->vcpu);

		if (e != VCPU_EXIT_STOP) {
			p->failed = true;
			p->failed_exit = e;
			vm_request_stop(&p->vm, EXIT_STATUS_GUEST_FAULT);
		}
	}
	return NULL;
}

int probe_vm_create(struct probe_vm *p, const struct engine_ops *e, uint64_t ram, uint16_t port,
		    const struct io_ops *ops, void *opaque, char *why, size_t len)
{
	struct vm *vm = &p->vm;
	int err;

	vm->mem.fd = -1;
	vm->cfg.cpus = 1;
	vm->cfg.mem_size = ram;
	vm->console_out_fd = -1;
	atomic_init(&vm->stop_requested, false);
	atomic_init(&vm->exit_status, -1);
	err = mem_init(&vm->mem, ram);
	if (err < 0) {
		snprintf(why, len, "guest RAM: %s", strerror(-err));
		return -1;
	}
	if (boot_write_gdt(&vm->mem) < 0 || boot_write_identity_map(&vm->mem) < 0 ||
	    bus_register(&vm->pio, port, 1, ops, opaque, "probe") < 0) {
		snprintf(why, len, "cannot lay out the probe guest");
		return -1;
	}
	if (e->vm_create(vm) < 0) {
		snprintf(why, len, "cannot create the VM");
		return -1;
	}
	vm->engine = e;
	p->vcpu.vm = vm;
	vm->vcpu[0] = &p->vcpu;
	vm->nr_cpus = 1;
	if (e->vcpu_create(&p->vcpu) < 0) {
		snprintf(why, len, "vcpu: %s", p->vcpu.error[0] ? p->vcpu.error : "cannot create");
		return -1;
	}
	return 0;
}

int probe_vm_set_state(struct probe_vm *p, const struct cpu_state *s, char *why, size_t len)
{
	if (p->vm.engine->set_state(&p->vcpu, s) < 0) {
		snprintf(why, len, "cannot set the vCPU state%s%s", p->vcpu.error[0] ? ": " : "",
			 p->vcpu.error);
		return -1;
	}
	return 0;
}

void probe_vm_destroy(struct probe_vm *p)
{
	const struct engine_ops *e = p->vm.engine;

	if (e && p->vcpu.engine_priv)
		e->vcpu_destroy(&p->vcpu);
	if (e && p->vm.engine_priv)
		e->vm_destroy(&p->vm);
	bus_destroy(&p->vm.pio);
	bus_destroy(&p->vm.mmio);
	mem_destroy(&p->vm.mem);
}

int probe_vm_run(struct probe_vm *p, uint64_t cap_ns, char *why, size_t len)
{
	pthread_t thread;
	struct timespec deadline;
	int err = pthread_create(&thread, NULL, vcpu_thread, p);

	if (err) {
		snprintf(why, len, "vcpu thread: %s", strerror(err));
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += (long)(cap_ns % 1000000000ull);
	deadline.tv_sec += (time_t)(cap_ns / 1000000000ull) + deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	if (pthread_clockjoin_np(thread, NULL, CLOCK_MONOTONIC, &deadline) != 0) {
		p->timed_out = true;
		vm_request_stop(&p->vm, EXIT_STATUS_OK);
		pthread_join(thread, NULL);
	}
	return 0;
}
