/* `vmon run`'s host side, above the machine (vm.h): which engine, where the console goes, the
 * event thread, the API socket, and where the guest comes from (a loader, a snapshot file or an
 * incoming migration). The machine never calls back into it. */
#ifndef VMON_RUNNER_H
#define VMON_RUNNER_H

#include "vm.h"

struct runner;

/* Checks the inputs, picks the engine, opens the console and the API socket, builds the VM
 * and fills it (loader, --restore or --incoming). Returns 0, or the exit status
 * (EXIT_STATUS_USAGE for bad input, EXIT_STATUS_HOST for host failures) after one line. */
int runner_create(const struct vm_config *cfg, struct runner **out);
struct vm *runner_vm(struct runner *r);
/* Starts the console, API and event thread, runs the VM until it stops, then stops them and
 * prints --stats; returns the exit status. */
int runner_run(struct runner *r);
void runner_destroy(struct runner *r);

#endif
