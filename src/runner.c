/* `vmon run` above the machine: input checks, engine selection, console, event thread, API
 * socket, and where the guest comes from (loader, --restore, --incoming). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "console.h"
#include "engine/autoselect.h"
#include "engine/kvm/probe.h"
#include "event.h"
#include "host_file.h"
#include "hw/serial8250.h"
#include "migrate.h"
#include "runner.h"
#include "snapshot/snapshot.h"
#include "util/log.h"

struct runner {
	struct vm *vm;
	struct console *console;
	struct event_loop *events;
	struct api *api;		/* --api-sock, or NULL */
};

static int check_readable(const char *path)
{
	if (!path)
		return 0;
	const char *why;
	int fd = host_file_open(path, O_RDONLY, 0, false, &why);
	if (fd < 0) {
		vmon_log("%s: %s", path, why);
		return -1;
	}
	close(fd);
	return 0;
}

_Static_assert(VM_ENGINE_NOTE_MAX >= KVM_CHECKS_DESCRIBE_MAX + 256, "room for the kvm probe");

/* The kvm engine's functional probe (engine/kvm/probe.h), installed for the VM: what it found
 * appended to the note, e.g. "software KVM: ...". */
static void kvm_host_note(char *note, size_t len)
{
	struct kvm_host_checks c;
	char why[KVM_CHECKS_DESCRIBE_MAX];
	size_t n = strlen(note);

	if (kvm_install_host_checks(why, sizeof(why)) < 0) {
		snprintf(note + n, len - n, "%sfunctional probe failed: %s", n ? "; " : "", why);
		return;
	}
	kvm_host_checks(&c, why, sizeof(why));
	kvm_host_checks_describe(&c, why, sizeof(why));
	if (why[0])
		snprintf(note + n, len - n, "%s%s", n ? "; " : "", why);
}

/* An explicit engine that cannot work is an error now; an automatic choice is explained in
 * *note, printed once the inputs have been accepted (so a bad input stays a one-line error),
 * and so is what the kvm engine's functional probe found. */
static const struct engine_ops *select_engine(enum engine_choice choice, char *note, size_t len)
{
	char why[KVM_CHECKS_DESCRIBE_MAX + 160] = "";

	switch (choice) {
	case ENGINE_KVM:
		if (kvm_engine.probe(why, sizeof(why)) < 0) {
			vmon_log("%s", why);
			return NULL;
		}
		why[0] = 0;
		kvm_host_note(why, sizeof(why));
		if (why[0])
			snprintf(note, len, "engine kvm (%s)", why);
		return &kvm_engine;
	case ENGINE_BT:
		if (bt_engine.probe(why, sizeof(why)) == 0)
			return &bt_engine;
		vmon_log("%s", why);
		return NULL;
	case ENGINE_AUTO:
		break;
	}
	const struct engine_ops *engine = engine_autoselect(why, sizeof(why));

	if (engine == &kvm_engine)
		kvm_host_note(why, sizeof(why));
	snprintf(note, len, "engine %s (%s)", engine->name, why);
	return engine;
}

/* The host side and the machine; with snap, the machine then takes the snapshot's state
 * instead of a loader's. */
static int build(struct runner *r, const struct vm_config *cfg, const struct engine_ops *engine,
		 struct snapshot_reader *snap)
{
	r->console = console_open(cfg);
	if (!r->console)
		return EXIT_STATUS_USAGE;
	r->events = event_loop_create();
	if (!r->events) {
		vmon_log("event loop: %s", strerror(errno));
		return EXIT_STATUS_HOST;
	}
	int status = vm_create(cfg, engine, console_out_fd(r->console), snap != NULL, &r->vm);
	if (status)
		return status;
	if (cfg->api_sock) {
		r->api = api_open(r->vm, cfg->api_sock);
		if (!r->api)
			return EXIT_STATUS_USAGE;
	}
	if (snap && snapshot_load(snap, r->vm) < 0)
		return EXIT_STATUS_USAGE;
	return 0;
}

int runner_create(const struct vm_config *cfg, struct runner **out)
{
	*out = NULL;
	if (check_readable(cfg->kernel) < 0 || check_readable(cfg->boot_sector) < 0 ||
	    check_readable(cfg->initrd) < 0)
		return EXIT_STATUS_USAGE;

	/* A restore takes RAM size and CPU count from the snapshot. */
	struct vm_config built = *cfg;
	struct snapshot_reader *snap = NULL;
	struct timespec t0, t1;
	int incoming_fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cfg->restore) {
		snap = snapshot_open(cfg->restore, &built);
		if (!snap)
			return EXIT_STATUS_USAGE;
	} else if (cfg->incoming) {
		snap = migrate_incoming_open(cfg->incoming, &built, &incoming_fd);
		if (!snap)
			return EXIT_STATUS_USAGE;
	}

	char note[VM_ENGINE_NOTE_MAX] = "";
	const struct engine_ops *engine = select_engine(cfg->engine, note, sizeof(note));
	if (!engine) {
		if (incoming_fd >= 0)
			migrate_incoming_done(snap, incoming_fd, false);
		snapshot_close(snap);
		return EXIT_STATUS_USAGE;
	}

	struct runner *r = calloc(1, sizeof(*r));
	if (!r) {
		vmon_log("%s", strerror(ENOMEM));
		if (incoming_fd >= 0)
			migrate_incoming_done(snap, incoming_fd, false);
		snapshot_close(snap);
		return EXIT_STATUS_HOST;
	}
	int status = build(r, &built, engine, snap);
	if (incoming_fd >= 0 && migrate_incoming_done(snap, incoming_fd, status == 0) < 0 &&
	    !status)
		status = EXIT_STATUS_HOST;
	snapshot_close(snap);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (cfg->restore && r->vm)
		r->vm->restore_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
				    (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec;
	if (status) {
		runner_destroy(r);
		return status;
	}
	if (note[0])
		vmon_log("%s", note);
	snprintf(r->vm->engine_note, sizeof(r->vm->engine_note), "%s", note);
	*out = r;
	return 0;
}

struct vm *runner_vm(struct runner *r)
{
	return r->vm;
}

int runner_run(struct runner *r)
{
	struct vm *vm = r->vm;

	if (console_start(r->console, vm, r->events, vm->com1) < 0 ||
	    (r->api && api_start(r->api, r->events) < 0) ||
	    event_loop_start(r->events) < 0) {
		console_stop(r->console);
		return EXIT_STATUS_HOST;
	}
	int status = vm_run(vm);

	event_loop_stop(r->events);
	console_stop(r->console);
	serial8250_flush(vm->com1);
	if (vm->cfg.stats)
		vm_print_stats(vm, stderr);
	return status;
}

void runner_destroy(struct runner *r)
{
	if (!r)
		return;
	/* The teardown order: the threads that reach into the machine end before it does. The
	 * event loop first, since its API requests start migrations. */
	if (r->events)
		event_loop_stop(r->events);
	if (r->vm)
		migrate_cleanup(r->vm);	/* its thread uses the vCPUs and RAM */
	vm_destroy(r->vm);
	api_close(r->api);		/* the event loop has stopped: no request is being served */
	event_loop_destroy(r->events);
	console_close(r->console);
	free(r);
}
