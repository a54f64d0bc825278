/* `--engine auto`: the engine that runs ring-0 guest code faster on this host, by measurement.
 *
 * A usable /dev/kvm is not necessarily a fast one: PVM (KVM in software, for hosts without
 * nested virtualization) emulates guest ring-0 code at a few million instructions per second,
 * slower than the bt engine; hardware KVM is far faster. So when kvm is usable, a short probe
 * runs the same small kernel-like loop on each engine and the faster one wins. The figures are
 * cached per host boot, /dev/kvm instance and vmon binary.
 */
#ifndef VMON_ENGINE_AUTOSELECT_H
#define VMON_ENGINE_AUTOSELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* Measured guest instructions per second at ring 0. */
struct probe_figures {
	uint64_t bt_ips, kvm_ips;
	bool cached;		/* read from the cache, not measured by this process */
};

#define PROBE_ID_MAX	96

/* What the cache file holds: the figures and the host they were measured on. */
struct probe_cache {
	char boot_id[PROBE_ID_MAX];	/* /proc/sys/kernel/random/boot_id */
	char kvm_id[PROBE_ID_MAX];	/* which /dev/kvm (device, inode, ctime) */
	char exe_id[PROBE_ID_MAX];	/* which vmon binary (device, inode, mtime, size) */
	struct probe_figures fig;	/* 0 and 0: not measured yet */
	uint64_t kvm_checks;		/* kvm/probe.h's results; 0: not probed yet */
};

/* Picks the engine for ENGINE_AUTO and says why in one line (no "vmon: " prefix).
 * Always returns an engine: bt when kvm is unusable or its probe failed. */
const struct engine_ops *engine_autoselect(char *why, size_t len);

/* Both engines' figures, from the cache or measured (and cached): 0, or which failed, with
 * the reason in why. Needs a usable kvm. */
enum { AUTOSELECT_KVM_FAILED = 1, AUTOSELECT_BT_FAILED };
int autoselect_figures(struct probe_figures *f, char *why, size_t len);

/* The faster engine by the figures (kvm on a tie), with the figures in why. */
const struct engine_ops *autoselect_decide(const struct probe_figures *f, char *why, size_t len);

/* Runs the probe guest on engine e, for at most 50 ms of wall time. 0 with *ips set, or -1
 * with the reason in why if the engine could not run it correctly. */
int autoselect_measure(const struct engine_ops *e, uint64_t *ips, char *why, size_t len);

/* The cache file's text. format: bytes written (< len), or -1 if it does not fit.
 * parse: 0, or -1 for anything that is not exactly what format writes. */
int probe_cache_format(const struct probe_cache *c, char *buf, size_t len);
int probe_cache_parse(const char *text, struct probe_cache *c);

/* This host's cache entry: 0 with *c read from the file, or -1 with *c holding only the host's
 * key (nothing measured). */
int probe_cache_lookup(struct probe_cache *c);
/* Writes c (best effort) if it is still this host's. */
void probe_cache_save(const struct probe_cache *c);

#endif
