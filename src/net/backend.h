/* The process behind `--net user`: the guest's frames leave vmon over a Unix stream socket
 * (frame_stream.h) to a user-mode network stack in its own sandboxed process, so that a bug in
 * that stack, which parses every guest frame, costs the guest its network and not vmon. */
#ifndef VMON_NET_BACKEND_H
#define VMON_NET_BACKEND_H

#include <stddef.h>

enum net_backend_kind {
	NET_BACKEND_AUTO,	/* passt where installed, else the slirp helper */
	NET_BACKEND_PASST,	/* Debian's passt, sandboxing itself */
	NET_BACKEND_SLIRP,	/* libslirp in a child of vmon under its own seccomp policy */
};

/* The hidden subcommand that makes vmon the slirp helper (`vmon net-slirp-helper`, socket on
 * fd NET_HELPER_FD); only vmon starts it. */
#define NET_SLIRP_HELPER_CMD	"net-slirp-helper"
#define NET_HELPER_FD		3

/* Starts the backend; returns vmon's end of the socket (non-blocking, close-on-exec) and names
 * the backend in name, or prints one line and returns -1. Call before any thread starts. */
int net_backend_start(enum net_backend_kind kind, char *name, size_t len);

/* `vmon net-slirp-helper`: libslirp on NET_HELPER_FD until vmon closes it. Exit status. */
int net_slirp_helper_main(void);

#endif
