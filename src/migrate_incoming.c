/* Live migration, target side (migrate.h): `vmon run --incoming URI`. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migrate.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "vm.h"

/* A source that sends nothing for this long (it sends without pause until the end) has failed. */
#define RECV_TIMEOUT_S	60

struct snapshot_reader *migrate_incoming_open(const char *uri, struct vm_config *cfg, int *fd)
{
	char where[160], err[256];
	int lfd = migrate_listen(uri, where, sizeof(where), err, sizeof(err));

	*fd = -1;
	if (lfd < 0) {
		vmon_log("--incoming %s", err);
		return NULL;
	}
	/* Scripts wait for this line (and learn the port when they asked for port 0). */
	vmon_log("waiting for a migration on %s", where);
	int conn;
	do
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (conn < 0 && errno == EINTR);
	int accept_err = errno;
	close(lfd);
	if (strncmp(uri, "unix:", 5) == 0)
		unlink(uri + 5);
	if (conn < 0) {
		vmon_log("--incoming %s: %s", uri, strerror(accept_err));
		return NULL;
	}
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_S };
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int rfd = dup(conn);
	FILE *f = rfd < 0 ? NULL : fdopen(rfd, "rb");
	if (!f) {
		vmon_log("--incoming %s: %s", uri, strerror(errno));
		if (rfd >= 0)
			close(rfd);
		close(conn);
		return NULL;
	}
	struct snapshot_reader *r = snapshot_open_stream(f, uri, cfg);
	if (!r) {
		close(conn);
		return NULL;
	}
	*fd = conn;
	return r;
}

int migrate_incoming_done(struct snapshot_reader *r, int fd, bool ok)
{
	struct timespec ts;
	int ret = 0;

	if (ok) {
		const struct snapshot_load_info *info = snapshot_info_of(r);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		uint64_t share = now > info->final_ns ? (now - info->final_ns) / 1000 : 0;
		if (send(fd, MIGRATE_ACK, strlen(MIGRATE_ACK), MSG_NOSIGNAL) !=
		    (ssize_t)strlen(MIGRATE_ACK)) {
			vmon_log("migration: cannot tell the source to stop: %s",
				strerror(errno));
			ret = -1;
		} else {
			vmon_log("migration received: %llu bytes, %llu RAM records, "
				"%llu.%03llu ms from the source's pause to running here",
				(unsigned long long)info->bytes,
				(unsigned long long)info->ram_records,
				(unsigned long long)share / 1000, (unsigned long long)share % 1000);
		}
	}
	close(fd);
	return ret;
}
