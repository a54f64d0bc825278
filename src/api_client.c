/* `vmon api SOCK REQUEST`: one request to a running vmon's control socket, for scripts.
 *
 * REQUEST is a JSON object, or a command name followed by KEY=VALUE arguments (VALUE taken as
 * JSON if it parses as a JSON value, else as a string): `vmon api SOCK snapshot path=/tmp/s`.
 * REQUEST "-" sends standard input as it is (any number of lines, or a partial one) and prints
 * every reply until the server has answered all of it.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "util/log.h"

#define REPLY_MAX	(1 << 20)

static int usage(const char *msg)
{
	vmon_log("%s (usage: vmon api SOCK '{\"cmd\":\"status\"}' | vmon api SOCK CMD "
		"[KEY=VALUE...])", msg);
	return 2;
}

/* The request line for argv (without newline); NULL after a usage message. */
static char *build_request(int argc, char **argv)
{
	if (argv[0][0] == '{') {
		if (argc > 1) {
			usage("a JSON request takes no further arguments");
			return NULL;
		}
		return strdup(argv[0]);
	}
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(argv[0]));
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			json_object_put(req);
			usage("arguments are KEY=VALUE");
			return NULL;
		}
		*eq = 0;
		struct json_object *val = json_tokener_parse(eq + 1);
		if (!val && strcmp(eq + 1, "null") != 0)
			val = json_object_new_string(eq + 1);
		json_object_object_add(req, argv[i], val);
	}
	char *line = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	json_object_put(req);
	return line;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* 0 if the reply line says ok, else 1. */
static int reply_status(char *line)
{
	struct json_object *o = json_tokener_parse(line), *ok;
	int status = o && json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok) ?
		     0 : 1;

	json_object_put(o);
	return status;
}

/* "-": stdin to the socket, then every reply line to stdout. 0 if all replies are ok, 1 if
 * one is not, 2 if there was none. */
static int relay_stdin(int fd, const char *path)
{
	static char buf[REPLY_MAX];
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (!send_all(fd, buf, n))
			break;
	shutdown(fd, SHUT_WR);

	int status = 2;
	size_t len = 0;
	for (;;) {
		ssize_t k = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			size_t line = (size_t)(nl - buf) + 1;
			fwrite(buf, 1, line, stdout);
			*nl = 0;
			int s = reply_status(buf);
			status = status == 2 ? s : status | s;
			memmove(buf, buf + line, len - line);
			len -= line;
		}
		if (len == sizeof(buf) - 1)
			break;
	}
	close(fd);
	if (status == 2)
		vmon_log("%s: no reply", path);
	return status;
}

int api_client_main(int argc, char **argv)
{
	if (argc < 2)
		return usage("api needs a socket and a request");
	const char *path = argv[0];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return usage("socket path too long");
	strcpy(addr.sun_path, path);

	bool raw = strcmp(argv[1], "-") == 0;
	if (raw && argc > 2)
		return usage("\"-\" takes no further arguments");
	char *line = raw ? NULL : build_request(argc - 1, argv + 1);
	if (!raw && !line)
		return 2;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		vmon_log("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(line);
		return 2;
	}
	if (raw)
		return relay_stdin(fd, path);
	bool sent = send_all(fd, line, strlen(line)) && send_all(fd, "\n", 1);
	free(line);

	static char reply[REPLY_MAX];
	size_t len = 0;
	while (sent && len < sizeof(reply) && (len == 0 || reply[len - 1] != '\n')) {
		ssize_t k = recv(fd, reply + len, sizeof(reply) - len, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	if (!sent || len == 0 || reply[len - 1] != '\n') {
		vmon_log("%s: no reply", path);
		return 2;
	}
	fwrite(reply, 1, len, stdout);
	reply[len - 1] = 0;
	return reply_status(reply);
}
