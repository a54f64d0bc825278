/* Handlers for the signals that end vmon from outside (fatal_signal.h). */
#include <stdbool.h>

#include "fatal_signal.h"

/* Default action "terminate" or "core" in signal(7), minus the faults. */
static const int fatal[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGSTKFLT,
	SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR,
};

/* The handlers installed through here: the console's may be chained under the API's. */
static void (*ours[4])(int);
static int nr_ours;

static bool replaceable(const struct sigaction *old)
{
	if (old->sa_flags & SA_SIGINFO)
		return false;
	if (old->sa_handler == SIG_DFL)
		return true;
	for (int i = 0; i < nr_ours; i++)
		if (old->sa_handler == ours[i])
			return true;
	return false;
}

static void install(struct fatal_signals *s, int sig, const struct sigaction *sa)
{
	struct sigaction old;

	if (s->nr >= FATAL_SIGNALS_MAX || sigaction(sig, NULL, &old) < 0 || !replaceable(&old))
		return;
	s->sig[s->nr] = sig;
	if (sigaction(sig, sa, &s->previous[s->nr]) == 0)
		s->nr++;
}

void fatal_signals_install(struct fatal_signals *s, void (*handler)(int), int sa_flags)
{
	struct sigaction sa = { .sa_handler = handler, .sa_flags = sa_flags };

	sigemptyset(&sa.sa_mask);
	if (nr_ours < (int)(sizeof(ours) / sizeof(ours[0])))
		ours[nr_ours++] = handler;
	s->nr = 0;
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		install(s, fatal[i], &sa);
	/* Real-time signals end a process too; glibc keeps the first few for itself. */
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		install(s, sig, &sa);
}

void fatal_signals_restore(const struct fatal_signals *s, int sig)
{
	for (int i = 0; i < s->nr; i++)
		if (s->sig[i] == sig)
			sigaction(sig, &s->previous[i], NULL);
}
