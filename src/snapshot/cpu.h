/* The engine-neutral vCPU section: struct cpu_state as snapshot bytes. */
#ifndef VMON_SNAPSHOT_CPU_H
#define VMON_SNAPSHOT_CPU_H

#include "cpu_state.h"
#include "snapshot/state.h"

void cpu_state_save(const struct cpu_state *s, struct state_out *o);
/* Sets in->bad on a short section or a malformed boolean. */
void cpu_state_load(struct cpu_state *s, struct state_in *in);

#endif
