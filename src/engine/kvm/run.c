/* The KVM_RUN loop: hand port I/O and MMIO exits to the VM's buses, turn the rest into
 * vcpu_exit codes; and kick(), which gets a vCPU thread out of KVM_RUN.
 *
 * Kicking: the kicker has already set vm->stop_requested; it sets run->immediate_exit (so a
 * KVM_RUN about to start returns at once) and sends SIGUSR1 (so one already running returns
 * with EINTR). The handler does nothing and is installed without SA_RESTART. The vCPU thread
 * keeps SIGUSR1 blocked except inside KVM_RUN (KVM_SET_SIGNAL_MASK), so a kick never
 * interrupts a device's system call; a kick sent meanwhile stays pending and is drained.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "engine/kvm/kvm_priv.h"
#include "vm.h"

#define KICK_SIGNAL		SIGUSR1
#define KERNEL_SIGSET_SIZE	8	/* _NSIG / 8 on x86-64 */

static void kick_handler(int sig)
{
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);
}

static void set_immediate_exit(struct kvm_run *run, uint8_t val)
{
	__atomic_store_n(&run->immediate_exit, val, __ATOMIC_SEQ_CST);
}

void kvm_vcpu_kick(struct vcpu *v)
{
	struct kvm_vcpu_priv *kv = v->engine_priv;

	if (!kv)
		return;
	set_immediate_exit(kv->run, 1);
	pthread_mutex_lock(&kv->lock);
	if (kv->in_run)
		pthread_kill(kv->thread, KICK_SIGNAL);
	pthread_mutex_unlock(&kv->lock);
}

/* The mask KVM applies while in KVM_RUN; the kernel's sigset is the first word of glibc's. */
static int set_run_sigmask(int fd, const sigset_t *set)
{
	struct kvm_signal_mask *m = malloc(sizeof(*m) + KERNEL_SIGSET_SIZE);
	int ret;

	if (!m)
		return -1;
	m->len = KERNEL_SIGSET_SIZE;
	memcpy(m->sigset, set, KERNEL_SIGSET_SIZE);
	ret = ioctl(fd, KVM_SET_SIGNAL_MASK, m);
	free(m);
	return ret;
}

static void drain_kicks(void)
{
	const struct timespec zero = { 0, 0 };
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, KICK_SIGNAL);
	while (sigtimedwait(&kick, NULL, &zero) == KICK_SIGNAL)
		;
}

static int enter_run(struct vcpu *v, struct kvm_vcpu_priv *kv, sigset_t *saved)
{
	sigset_t kick, in_kvm;

	pthread_once(&kick_once, install_kick_handler);
	sigemptyset(&kick);
	sigaddset(&kick, KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, saved);
	in_kvm = *saved;
	sigdelset(&in_kvm, KICK_SIGNAL);
	if (set_run_sigmask(kv->fd, &in_kvm) < 0) {
		snprintf(v->error, sizeof(v->error), "KVM_SET_SIGNAL_MASK: %s", strerror(errno));
		pthread_sigmask(SIG_SETMASK, saved, NULL);
		return -1;
	}

	pthread_mutex_lock(&kv->lock);
	kv->thread = pthread_self();
	kv->in_run = true;
	pthread_mutex_unlock(&kv->lock);
	return 0;
}

static void leave_run(struct kvm_vcpu_priv *kv, const sigset_t *saved)
{
	pthread_mutex_lock(&kv->lock);
	kv->in_run = false;
	pthread_mutex_unlock(&kv->lock);
	drain_kicks();
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* Port I/O, including string I/O: count items of size bytes at run + data_offset. */
static int handle_io(struct vcpu *v, struct kvm_vcpu_priv *kv)
{
	struct kvm_run *run = kv->run;
	unsigned int size = run->io.size;
	uint64_t off = run->io.data_offset;
	uint64_t bytes = (uint64_t)size * run->io.count;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data = (uint8_t *)run;

	if ((size != 1 && size != 2 && size != 4) || off > kv->run_size ||
	    bytes > kv->run_size - off) {
		snprintf(v->error, sizeof(v->error),
			 "KVM_EXIT_IO: bad port %#x size %u count %u offset %#llx",
			 run->io.port, size, run->io.count, (unsigned long long)off);
		return -1;
	}
	for (uint64_t pos = off; pos < off + bytes; pos += size) {
		uint64_t val = 0;

		if (write)
			memcpy(&val, data + pos, size);
		vm_pio(v, run->io.port, size, write, &val);
		if (!write)
			memcpy(data + pos, &val, size);
	}
	kv->io_pending = true;
	return 0;
}

static int handle_mmio(struct vcpu *v, struct kvm_vcpu_priv *kv)
{
	struct kvm_run *run = kv->run;
	unsigned int len = run->mmio.len;
	uint64_t val = 0;

	if (len < 1 || len > sizeof(run->mmio.data)) {
		snprintf(v->error, sizeof(v->error), "KVM_EXIT_MMIO: bad length %u at %#llx",
			 len, (unsigned long long)run->mmio.phys_addr);
		return -1;
	}
	if (run->mmio.is_write)
		memcpy(&val, run->mmio.data, len);
	vm_mmio(v, run->mmio.phys_addr, len, run->mmio.is_write, &val);
	if (!run->mmio.is_write)
		memcpy(run->mmio.data, &val, len);
	kv->io_pending = true;
	return 0;
}

static void describe_internal_error(struct vcpu *v, const struct kvm_run *run)
{
	int n = snprintf(v->error, sizeof(v->error), "KVM_EXIT_INTERNAL_ERROR: suberror %u",
			 run->internal.suberror);
	uint32_t ndata = run->internal.ndata;

	if (ndata > sizeof(run->internal.data) / sizeof(run->internal.data[0]))
		ndata = sizeof(run->internal.data) / sizeof(run->internal.data[0]);
	for (uint32_t i = 0; i < ndata && n > 0 && (size_t)n < sizeof(v->error); i++)
		n += snprintf(v->error + n, sizeof(v->error) - n, " %#llx",
			      (unsigned long long)run->internal.data[i]);
}

/* -1: keep running; otherwise the vcpu_exit to return. */
static int handle_exit(struct vcpu *v, struct kvm_vcpu_priv *kv)
{
	const struct kvm_vm_priv *kp = v->vm->engine_priv;
	struct kvm_run *run = kv->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(v, kv) < 0 ? VCPU_EXIT_ERROR : -1;
	case KVM_EXIT_MMIO:
		return handle_mmio(v, kv) < 0 ? VCPU_EXIT_ERROR : -1;
	case KVM_EXIT_HLT:
		/* Only without the in-kernel LAPIC, which vmon always creates. */
		v->stats.count[STAT_HLT]++;
		return -1;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_SET_TPR:
	case KVM_EXIT_TPR_ACCESS:
		return -1;
	case KVM_EXIT_SHUTDOWN:
		v->stats.count[STAT_SHUTDOWN]++;
		kv->state_lost = kp->shutdown_resets;
		return VCPU_EXIT_SHUTDOWN;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_RESET:
			vm_guest_reset(v->vm);
			return VCPU_EXIT_STOP;
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_stop(v->vm, EXIT_STATUS_OK);
			return VCPU_EXIT_STOP;
		case KVM_SYSTEM_EVENT_CRASH:
			return VCPU_EXIT_SHUTDOWN;
		default:
			snprintf(v->error, sizeof(v->error), "KVM_EXIT_SYSTEM_EVENT: type %u",
				 run->system_event.type);
			return VCPU_EXIT_ERROR;
		}
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(v->error, sizeof(v->error),
			 "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason %#llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return VCPU_EXIT_ERROR;
	case KVM_EXIT_INTERNAL_ERROR:
		/* Neither the instruction nor anything else has been committed: run it here. */
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
			return kvm_fallback(v, 1);
		describe_internal_error(v, run);
		kvm_fallback_describe_error(v);
		return VCPU_EXIT_ERROR;
	case KVM_EXIT_UNKNOWN:
		snprintf(v->error, sizeof(v->error), "KVM_EXIT_UNKNOWN: hardware exit reason %#llx",
			 (unsigned long long)run->hw.hardware_exit_reason);
		return VCPU_EXIT_ERROR;
	default:
		snprintf(v->error, sizeof(v->error), "unexpected KVM exit reason %u",
			 run->exit_reason);
		return VCPU_EXIT_ERROR;
	}
}

static unsigned int exit_bucket(uint32_t reason)
{
	return reason < KVM_EXIT_COUNTED ? reason : KVM_EXIT_COUNTED;
}

/* KVM retires an I/O or MMIO instruction (result, RIP) only on the next KVM_RUN; do that
 * without running guest code, so get_state sees a consistent state (api.rst, KVM_EXIT_IO). */
static void complete_pending_io(struct kvm_vcpu_priv *kv)
{
	if (!kv->io_pending)
		return;
	set_immediate_exit(kv->run, 1);
	ioctl(kv->fd, KVM_RUN, 0);
	kv->io_pending = false;
}

enum vcpu_exit kvm_vcpu_run(struct vcpu *v)
{
	struct kvm_vcpu_priv *kv = v->engine_priv;
	const struct kvm_vm_priv *kp = v->vm->engine_priv;
	sigset_t saved;
	int ret = -1;

	if (enter_run(v, kv, &saved) < 0)
		return VCPU_EXIT_ERROR;
	/* Safe to clear: a kicker sets stop_requested before immediate_exit, and it is
	 * checked below before every KVM_RUN. */
	set_immediate_exit(kv->run, 0);
	while (ret < 0) {
		if (atomic_load(&v->vm->stop_requested) || atomic_load(&v->vm->pause_requested)) {
			ret = VCPU_EXIT_STOP;
			break;
		}
		if (ioctl(kv->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				kv->exits[KVM_EXIT_INTR]++;
				kv->io_pending = false;	/* KVM completes it before bailing out */
				set_immediate_exit(kv->run, 0);
				drain_kicks();
				continue;
			}
			snprintf(v->error, sizeof(v->error), "KVM_RUN: %s", strerror(errno));
			ret = VCPU_EXIT_ERROR;
			break;
		}
		kv->io_pending = false;
		kv->exits[exit_bucket(kv->run->exit_reason)]++;
		ret = handle_exit(v, kv);
		if (ret < 0 && kv->run->exit_reason == kp->test_fallback_exit) {
			/* Retire the I/O first; a kick meanwhile set stop_requested, seen above. */
			complete_pending_io(kv);
			set_immediate_exit(kv->run, 0);
			ret = kvm_fallback(v, kp->test_fallback_insns);
		}
	}
	complete_pending_io(kv);
	leave_run(kv, &saved);
	return (enum vcpu_exit)ret;
}
