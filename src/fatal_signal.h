/* The exit paths for signals: every signal whose default action ends vmon and that comes from
 * outside (kill, the terminal, timers, resource limits) must restore the terminal and remove
 * the API socket, not only INT, TERM, HUP and QUIT. Faults (SEGV, BUS, ILL, FPE, TRAP, SYS)
 * are left to their default action and the sanitizers' reports. */
#ifndef VMON_FATAL_SIGNAL_H
#define VMON_FATAL_SIGNAL_H

#include <signal.h>

#define FATAL_SIGNALS_MAX	64

/* What one user of these signals (the console, the API) took over, and what was there. */
struct fatal_signals {
	int nr;
	int sig[FATAL_SIGNALS_MAX];
	struct sigaction previous[FATAL_SIGNALS_MAX];
};

/* Installs handler (with sa_flags) on each such signal that still has its default action or
 * another fatal_signals_install() handler (whose chain it then runs first); a signal vmon uses
 * itself (the kvm engine's vCPU kick) is not fatal and stays as it is. */
void fatal_signals_install(struct fatal_signals *s, void (*handler)(int), int sa_flags);

/* From the handler: puts back what was there before for sig (async-signal-safe), so that
 * raise(sig) reaches it. */
void fatal_signals_restore(const struct fatal_signals *s, int sig);

#endif
