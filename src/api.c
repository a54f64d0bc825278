/* The JSON control socket: a Unix stream socket served on the event thread.
 *
 * Each connection has a line buffer of API_MAX_LINE bytes; a complete line is one request and
 * gets one reply line. A line that does not fit gets an error reply and is skipped up to its
 * newline; a client that goes away mid-line just loses its partial line. Replies are sent
 * without blocking: a client that does not read them is disconnected, so it cannot stall the
 * event thread (which also serves the console).
 *
 * JSON is json-c (Debian's libjson-c): its tokener reports malformed input precisely and the
 * replies need an escaping writer anyway; the line cap bounds what it has to parse.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "event.h"
#include "fatal_signal.h"
#include "hw/clock.h"
#include "hw/irqchip.h"
#include "migrate.h"
#include "sandbox.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "vm.h"

#define API_MAX_CLIENTS	8
/* A connection that sent nothing for this long gives its place to a new one: otherwise
 * API_MAX_CLIENTS idle clients lock everyone else out. */
#define API_IDLE_TIMEOUT_S	10

struct api_client {
	int fd;				/* -1: free */
	struct api *api;
	size_t len;
	bool skipping;			/* inside an over-long line: drop up to the next newline */
	uint64_t last_ns;		/* CLOCK_MONOTONIC of its connection or last byte */
	char buf[API_MAX_LINE];
};

struct api {
	struct vm *vm;
	struct event_loop *loop;
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct api_client client[API_MAX_CLIENTS];
	uint64_t refused, idle_closed;	/* connections turned away, idle ones closed (`status`) */
};


/* ---- Commands ------------------------------------------------------------------------------ */

struct api_arg {
	const char *name;
	json_type type;
	bool required;
};

/* Returns NULL and fills reply, or returns an error message (static or in err). */
typedef const char *(*api_fn)(struct api *a, struct json_object *req, struct json_object *reply,
			      char *err, size_t errlen);

struct api_cmd {
	const char *name;
	api_fn fn;
	struct api_arg args[4];		/* ends at a NULL name */
	const char *help;
};

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_counter(void *opaque, const char *name, uint64_t val)
{
	add_u64(opaque, name, val);
}

/* Exits by kind summed over the vCPUs (relaxed loads: the vCPUs keep counting). */
static void exit_totals(struct vm *vm, uint64_t total[STAT_NR])
{
	for (int k = 0; k < STAT_NR; k++)
		total[k] = 0;
	for (int i = 0; i < vm->nr_cpus; i++)
		for (int k = 0; k < STAT_NR; k++)
			total[k] += __atomic_load_n(&vm->vcpu[i]->stats.count[k], __ATOMIC_RELAXED);
}

static void add_migration(struct vm *vm, struct json_object *reply)
{
	static const char *const states[] = {
		[MIGRATE_ACTIVE] = "active", [MIGRATE_COMPLETED] = "completed",
		[MIGRATE_FAILED] = "failed",
	};
	struct migrate_progress p;

	if (!migrate_progress(vm, &p))
		return;
	struct json_object *o = json_object_new_object();
	struct json_object *rounds = json_object_new_array();
	json_object_object_add(o, "state", json_object_new_string(states[p.state]));
	json_object_object_add(o, "rounds", json_object_new_int((int)p.rounds));
	add_u64(o, "pages_sent", p.pages_sent);
	add_u64(o, "dirty_pages", p.dirty_pages);
	add_u64(o, "bytes", p.bytes);
	for (unsigned i = 0; i < p.rounds; i++)
		json_object_array_add(rounds, json_object_new_uint64(p.round_pages[i]));
	json_object_object_add(o, "round_pages", rounds);
	if (p.state == MIGRATE_COMPLETED) {
		add_u64(o, "final_pages", p.final_pages);
		add_u64(o, "total_ms", p.total_ms);
		add_u64(o, "downtime_us", p.downtime_us);
	}
	if (p.state == MIGRATE_FAILED)
		json_object_object_add(o, "error", json_object_new_string(p.error));
	json_object_object_add(reply, "migration", o);
}

static const char *cmd_status(struct api *a, struct json_object *req, struct json_object *reply,
			      char *err, size_t errlen)
{
	struct vm *vm = a->vm;
	uint64_t total[STAT_NR], exits = 0;

	exit_totals(vm, total);
	for (int k = 0; k < STAT_NR; k++)
		if (k != STAT_IRQ_INJECTED)
			exits += total[k];
	json_object_object_add(reply, "state",
			       json_object_new_string(vm_is_paused(vm) ? "paused" : "running"));
	json_object_object_add(reply, "engine", json_object_new_string(vm->engine->name));
	json_object_object_add(reply, "cpus", json_object_new_int(vm->nr_cpus));
	add_u64(reply, "mem", vm->mem.size);
	/* Guest time since the VM started: stops while paused, continues across a restore. */
	uint64_t now = vm_clock_now_ns(&vm->clock), epoch = guest_tsc_epoch_ns();
	add_u64(reply, "uptime_ms", (now > epoch ? now - epoch : 0) / 1000000);
	add_u64(reply, "exits", exits);
	json_object_object_add(reply, "sandbox", json_object_new_boolean(sandbox_active()));
	if (vm->restore_ns)
		add_u64(reply, "restore_us", vm->restore_ns / 1000);
	if (vm->engine->counters) {
		struct json_object *c = json_object_new_object();
		struct json_object *insns;
		vm->engine->counters(vm, add_counter, c);
		if (json_object_object_get_ex(c, "instructions", &insns))
			json_object_object_add(reply, "instructions", json_object_get(insns));
		json_object_put(c);
	}
	add_migration(vm, reply);
	struct json_object *api = json_object_new_object();
	int clients = 0;
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		clients += a->client[i].fd >= 0;
	json_object_object_add(api, "clients", json_object_new_int(clients));
	add_u64(api, "refused", a->refused);
	add_u64(api, "idle_closed", a->idle_closed);
	json_object_object_add(reply, "api", api);
	return NULL;
}

static const char *cmd_stats(struct api *a, struct json_object *req, struct json_object *reply,
			     char *err, size_t errlen)
{
	struct vm *vm = a->vm;
	uint64_t total[STAT_NR];
	struct json_object *exits = json_object_new_object();

	exit_totals(vm, total);
	for (int k = 0; k < STAT_NR; k++) {
		/* "pio pic/pit" -> "pio_pic_pit": keys scripts can use as identifiers */
		char key[32];
		snprintf(key, sizeof(key), "%s", stat_names[k]);
		for (char *p = key; *p; p++)
			if (!isalnum((unsigned char)*p))
				*p = '_';
		add_u64(exits, key, total[k]);
	}
	json_object_object_add(reply, "exits", exits);
	if (vm->engine->counters) {
		struct json_object *c = json_object_new_object();
		vm->engine->counters(vm, add_counter, c);
		json_object_object_add(reply, vm->engine->name, c);
	}
	return NULL;
}

static const char *cmd_pause(struct api *a, struct json_object *req, struct json_object *reply,
			     char *err, size_t errlen)
{
	if (migrate_active(a->vm))
		return "a migration is in progress";
	if (vm_is_paused(a->vm))
		return "already paused";
	if (vm_pause(a->vm) < 0)
		return "the VM is shutting down";
	return NULL;
}

static const char *cmd_resume(struct api *a, struct json_object *req, struct json_object *reply,
			      char *err, size_t errlen)
{
	if (migrate_active(a->vm))
		return "a migration is in progress";
	return vm_resume(a->vm) < 0 ? "not paused" : NULL;
}

static const char *cmd_quit(struct api *a, struct json_object *req, struct json_object *reply,
			    char *err, size_t errlen)
{
	vm_request_stop(a->vm, EXIT_STATUS_OK);
	return NULL;
}

static bool get_bool(struct json_object *req, const char *key, bool dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(req, key, &v) ? json_object_get_boolean(v) : dflt;
}

static const char *cmd_snapshot(struct api *a, struct json_object *req,
				struct json_object *reply, char *err, size_t errlen)
{
	struct vm *vm = a->vm;
	struct json_object *path;
	struct snapshot_info info;
	struct timespec t0, t1;

	json_object_object_get_ex(req, "path", &path);
	if (migrate_active(vm))
		return "a migration is in progress";
	bool was_paused = vm_is_paused(vm);
	if (!was_paused && vm_pause(vm) < 0)
		return "the VM is shutting down";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = snapshot_save(vm, json_object_get_string(path), get_bool(req, "compress", false),
				&info, err, errlen);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!was_paused && !get_bool(req, "paused", false))
		vm_resume(vm);
	if (ret < 0)
		return err;
	add_u64(reply, "bytes", info.bytes);
	add_u64(reply, "ram_pages", info.ram_pages);
	add_u64(reply, "ms", (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 +
					(t1.tv_nsec - t0.tv_nsec) / 1000000));
	json_object_object_add(reply, "state",
			       json_object_new_string(vm_is_paused(vm) ? "paused" : "running"));
	return NULL;
}

static const char *cmd_migrate(struct api *a, struct json_object *req,
			       struct json_object *reply, char *err, size_t errlen)
{
	struct json_object *uri;

	json_object_object_get_ex(req, "uri", &uri);
	if (migrate_start(a->vm, json_object_get_string(uri), get_bool(req, "paused", false),
			  get_bool(req, "compress", false), err, errlen) < 0)
		return err;
	json_object_object_add(reply, "migration", json_object_new_string("active"));
	return NULL;
}

static const char *cmd_nmi(struct api *a, struct json_object *req, struct json_object *reply,
			   char *err, size_t errlen)
{
	if (!a->vm->engine->nmi)
		return "this engine cannot inject an NMI";
	a->vm->engine->nmi(a->vm);
	return NULL;
}

static const char *cmd_help(struct api *a, struct json_object *req, struct json_object *reply,
			    char *err, size_t errlen);

static const struct api_cmd commands[] = {
	{ "status", cmd_status, { { NULL } },
	  "running/paused, engine, cpus, mem, uptime_ms (guest time), exits, sandbox (seccomp "
	  "filter on), instructions; restore_us: how long a --restore took" },
	{ "stats", cmd_stats, { { NULL } }, "exit counters by kind and the engine's counters" },
	{ "pause", cmd_pause, { { NULL } }, "park every vCPU; the guest clock stops" },
	{ "resume", cmd_resume, { { NULL } }, "continue a paused VM" },
	{ "snapshot", cmd_snapshot,
	  { { "path", json_type_string, true }, { "paused", json_type_boolean, false },
	    { "compress", json_type_boolean, false } },
	  "write the VM to path (vmon run --restore path); paused: stay paused after it; "
	  "compress: zstd on RAM (smaller, slower)" },
	{ "migrate", cmd_migrate,
	  { { "uri", json_type_string, true }, { "paused", json_type_boolean, false },
	    { "compress", json_type_boolean, false } },
	  "live-migrate to `vmon run --incoming URI` (tcp:HOST:PORT or unix:PATH), in the "
	  "background: status shows its progress; on success this vmon ends (exit status 0), "
	  "or stays paused with paused=true; compress: zstd on RAM" },
	{ "nmi", cmd_nmi, { { NULL } },
	  "pulse every CPU's LINT1, as an NMI button does (bt engine)" },
	{ "quit", cmd_quit, { { NULL } }, "end the VM (exit status 0)" },
	{ "help", cmd_help, { { NULL } }, "this list" },
};
#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char *cmd_help(struct api *a, struct json_object *req, struct json_object *reply,
			    char *err, size_t errlen)
{
	struct json_object *list = json_object_new_object();

	for (size_t i = 0; i < NR_COMMANDS; i++)
		json_object_object_add(list, commands[i].name,
				       json_object_new_string(commands[i].help));
	json_object_object_add(reply, "commands", list);
	return NULL;
}

static const struct api_arg *find_arg(const struct api_cmd *c, const char *name)
{
	for (const struct api_arg *arg = c->args; arg->name; arg++)
		if (strcmp(arg->name, name) == 0)
			return arg;
	return NULL;
}

const struct api_cmd *api_parse_request(const char *line, size_t len, struct json_object **req,
					char *err, size_t errlen)
{
	*req = NULL;
	if (len > API_MAX_LINE) {
		snprintf(err, errlen, "request line too long (max %d bytes)", API_MAX_LINE);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	while (o && used < len && strchr(" \t\r", line[used]))
		used++;
	if (!o || jerr != json_tokener_success || used != len) {
		snprintf(err, errlen, "malformed JSON: %s",
			 o ? "text after the object" : jerr == json_tokener_continue ?
			 "incomplete" : json_tokener_error_desc(jerr));
		json_object_put(o);
		return NULL;
	}
	struct json_object *cmd;
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "cmd", &cmd) || !json_object_is_type(cmd, json_type_string)) {
		snprintf(err, errlen, "a request is an object with a string \"cmd\"");
		json_object_put(o);
		return NULL;
	}
	const char *name = json_object_get_string(cmd);
	const struct api_cmd *c = NULL;
	for (size_t i = 0; i < NR_COMMANDS && !c; i++)
		if (strcmp(commands[i].name, name) == 0)
			c = &commands[i];
	if (!c) {
		snprintf(err, errlen, "unknown command \"%.64s\" (try \"help\")", name);
		json_object_put(o);
		return NULL;
	}
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "cmd") == 0)
			continue;
		const struct api_arg *arg = find_arg(c, key);
		if (!arg) {
			snprintf(err, errlen, "%s: unknown argument \"%.64s\"", c->name, key);
			json_object_put(o);
			return NULL;
		}
		if (!json_object_is_type(val, arg->type)) {
			snprintf(err, errlen, "%s: \"%s\" must be a %s", c->name, key,
				 json_type_to_name(arg->type));
			json_object_put(o);
			return NULL;
		}
	}
	for (const struct api_arg *arg = c->args; arg->name; arg++) {
		if (arg->required && !json_object_object_get_ex(o, arg->name, NULL)) {
			snprintf(err, errlen, "%s: needs \"%s\"", c->name, arg->name);
			json_object_put(o);
			return NULL;
		}
	}
	*req = o;
	return c;
}

static char *reply_string(struct json_object *reply)
{
	char *s = strdup(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(reply);
	return s;
}

static char *error_reply(const char *msg)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "ok", json_object_new_boolean(false));
	json_object_object_add(reply, "error", json_object_new_string(msg));
	return reply_string(reply);
}

char *api_handle_line(struct api *a, const char *line, size_t len)
{
	char err[256];
	struct json_object *req;
	const struct api_cmd *c = api_parse_request(line, len, &req, err, sizeof(err));

	if (!c)
		return error_reply(err);
	struct json_object *reply = json_object_new_object();
	json_object_object_add(reply, "ok", json_object_new_boolean(true));
	err[0] = 0;
	const char *fail = c->fn(a, req, reply, err, sizeof(err));
	json_object_put(req);
	if (fail) {
		json_object_put(reply);
		return error_reply(fail);
	}
	return reply_string(reply);
}

/* ---- Connections --------------------------------------------------------------------------- */

static void drop_client(struct api_client *c)
{
	event_del_fd(c->api->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

/* Whole line or nothing: a reader that lets its socket buffer fill up is dropped. */
static bool send_line(int fd, char *reply)
{
	if (!reply)
		return false;
	size_t n = strlen(reply);
	bool ok = false;

	reply[n] = '\n';		/* strdup'ed with its NUL: room for the newline */
	ssize_t sent = send(fd, reply, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	ok = sent == (ssize_t)(n + 1);
	free(reply);
	return ok;
}

static bool serve_line(struct api_client *c, const char *line, size_t len)
{
	char *reply = api_handle_line(c->api, line, len);

	return reply && send_line(c->fd, reply);
}

static void client_readable(void *opaque)
{
	struct api_client *c = opaque;
	char chunk[1024];
	ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_client(c);
		return;
	}
	c->last_ns = monotonic_ns();
	for (ssize_t i = 0; i < n; i++) {
		if (chunk[i] != '\n') {
			if (c->skipping)
				continue;
			if (c->len == sizeof(c->buf)) {
				/* Answer now: the client may be waiting for a reply to a line it
				 * cannot finish. */
				c->skipping = true;
				c->len = 0;
				char msg[64];
				snprintf(msg, sizeof(msg), "request line too long (max %d bytes)",
					 API_MAX_LINE);
				if (!send_line(c->fd, error_reply(msg))) {
					drop_client(c);
					return;
				}
				continue;
			}
			c->buf[c->len++] = chunk[i];
			continue;
		}
		bool was_skipping = c->skipping;
		size_t len = c->len;
		c->skipping = false;
		c->len = 0;
		if (was_skipping || len == 0)
			continue;
		if (!serve_line(c, c->buf, len)) {
			drop_client(c);
			return;
		}
	}
}

static void listener_readable(void *opaque)
{
	struct api *a = opaque;
	int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	uint64_t now = monotonic_ns();
	for (int i = 0; i < API_MAX_CLIENTS; i++) {
		struct api_client *c = &a->client[i];
		if (c->fd >= 0 && now - c->last_ns >= API_IDLE_TIMEOUT_S * 1000000000ull) {
			drop_client(c);
			a->idle_closed++;
		}
	}
	for (int i = 0; i < API_MAX_CLIENTS; i++) {
		struct api_client *c = &a->client[i];
		if (c->fd >= 0)
			continue;
		*c = (struct api_client){ .fd = fd, .api = a, .last_ns = now };
		if (event_add_fd(a->loop, fd, client_readable, c) == 0)
			return;
		c->fd = -1;
		break;
	}
	/* Said once on stderr; `status` counts them all. */
	if (!a->refused++)
		vmon_log("--api-sock: refused a connection (%d busy, none idle for "
			"%d s)", API_MAX_CLIENTS, API_IDLE_TIMEOUT_S);
	char *reply = error_reply("too many connections");
	send_line(fd, reply);
	close(fd);
}

/* ---- Socket lifetime ----------------------------------------------------------------------- */

/* For the fatal-signal path, which only has globals. */
static char signal_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct fatal_signals fatal_signals;

/* Remove the socket, then let whatever handled the signal before (the console restoring the
 * terminal, or the default action) take it. */
static void fatal_signal(int sig)
{
	if (signal_path[0])
		unlink(signal_path);
	fatal_signals_restore(&fatal_signals, sig);
	raise(sig);
}

struct api *api_open(struct vm *vm, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(addr.sun_path) || !*path) {
		vmon_log("--api-sock %s: path too long for a Unix socket", path);
		return NULL;
	}
	strcpy(addr.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vmon_log("--api-sock %s: exists and is not a socket", path);
			return NULL;
		}
		/* A socket nobody answers on is left over from a vmon that was killed. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 &&
			connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		if (probe >= 0)
			close(probe);
		if (live) {
			vmon_log("--api-sock %s: in use by a running vmon", path);
			return NULL;
		}
		unlink(path);
	}

	struct api *a = calloc(1, sizeof(*a));
	if (!a) {
		vmon_log("%s", strerror(ENOMEM));
		return NULL;
	}
	a->vm = vm;
	strcpy(a->path, path);
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		a->client[i].fd = -1;
	a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->listen_fd < 0 || bind(a->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		vmon_log("--api-sock %s: %s", path, strerror(errno));
		if (a->listen_fd >= 0)
			close(a->listen_fd);
		free(a);
		return NULL;
	}
	if (listen(a->listen_fd, 8) < 0) {
		vmon_log("--api-sock %s: %s", path, strerror(errno));
		api_close(a);
		return NULL;
	}
	return a;
}

int api_start(struct api *a, struct event_loop *loop)
{
	a->loop = loop;
	if (event_add_fd(loop, a->listen_fd, listener_readable, a) < 0) {
		vmon_log("--api-sock %s: cannot watch the socket", a->path);
		return -1;
	}
	strcpy(signal_path, a->path);
	fatal_signals_install(&fatal_signals, fatal_signal, 0);
	return 0;
}

void api_close(struct api *a)
{
	if (!a)
		return;
	for (int i = 0; i < API_MAX_CLIENTS; i++)
		if (a->client[i].fd >= 0) {
			if (a->loop)
				event_del_fd(a->loop, a->client[i].fd);
			close(a->client[i].fd);
		}
	if (a->loop)
		event_del_fd(a->loop, a->listen_fd);
	close(a->listen_fd);
	unlink(a->path);
	signal_path[0] = 0;
	free(a);
}
