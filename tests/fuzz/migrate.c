/* The migration target: `vmon run --incoming unix:PATH` (runner_create with cfg.incoming) reading a
 * stream that a thread of this harness sends as a source would, then reading the target's answer.
 * The VM has the seeds' device set (a disk, an RNG, a NIC) on the bt engine.
 * Input: a stream without its "end" section; the harness appends one with the right checksum.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "support/vm_input.h"
#include "runner.h"

/* The target listens before it blocks in accept(); the source retries until then. */
#define CONNECT_TRIES	20000
#define CONNECT_NAP_NS	50000

static struct vm_config cfg;
static char uri[128];
static struct sockaddr_un addr = { .sun_family = AF_UNIX };

struct source {
	const uint8_t *buf;
	size_t len;
};

static void *source(void *arg)
{
	struct source *s = arg;
	int fd = -1;

	for (int i = 0; i < CONNECT_TRIES; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		close(fd);
		fd = -1;
		nanosleep(&(struct timespec){ .tv_nsec = CONNECT_NAP_NS }, NULL);
	}
	if (fd < 0) {
		fprintf(stderr, "fuzz migrate: the target never listened on %s\n", uri);
		abort();
	}
	for (size_t done = 0; done < s->len;) {
		ssize_t n = send(fd, s->buf + done, s->len - done, MSG_NOSIGNAL);
		if (n <= 0)
			break;		/* the target gave up on the stream */
		done += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	char ack[16];
	while (recv(fd, ack, sizeof(ack), 0) > 0)
		;
	close(fd);
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (fuzz_vm_config(&cfg) < 0) {
		perror("fuzz migrate: memfd");
		_exit(1);
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/tmp/vmon-fuzz-migrate-%d.sock",
		 (int)getpid());
	snprintf(uri, sizeof(uri), "unix:%s", addr.sun_path);
	cfg.incoming = uri;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct source s;
	pthread_t t;
	struct runner *r;

	s.buf = fuzz_with_end(data, size, &s.len);
	if (pthread_create(&t, NULL, source, &s) != 0)
		_exit(1);
	if (runner_create(&cfg, &r) == 0)
		runner_destroy(r);
	pthread_join(t, NULL);
	free((void *)s.buf);
	return 0;
}
