/* The seccomp sandbox: once the VM is built, vmon may make only the system calls running it
 * needs; any other call kills the process (README "Isolation"). */
#ifndef VMON_SANDBOX_H
#define VMON_SANDBOX_H

#include <stdbool.h>

/* What the running VM may still do besides its devices' I/O, from its configuration. */
struct sandbox_policy {
	bool kvm;	/* kvm engine: ioctls of type 0xAE on its /dev/kvm, VM and vCPU fds */
	bool api;	/* --api-sock: accept clients; snapshot creates, fsyncs and renames a
			 * file; migrate connects a stream socket */
};

/* A process vmon traces (a container of the bt engine's direct execution, made before the
 * filter): the filter then lets vmon ptrace, wait for, pin and signal exactly these pids, and
 * arm the per-thread timers that interrupt its waits. */
void sandbox_add_tracee(int pid);

/* Installs the filter on every thread of the process (and those created later). Returns 0, or
 * -1 after one line on stderr. */
int sandbox_enter(const struct sandbox_policy *p);

/* The filter is installed: code that would need a forbidden call takes another way (migrate
 * resolves only numeric addresses, since a host name means reading /etc files). */
bool sandbox_active(void);

/* The slirp helper's policy (src/net/slirp_helper.c): TCP/UDP sockets for the guest's
 * connections and reading /etc/resolv.conf besides I/O, memory and clocks. 0, or -1 after one
 * line on stderr. */
int sandbox_enter_net_helper(void);

#endif
