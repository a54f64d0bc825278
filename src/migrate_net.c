/* Migration sockets: "tcp:HOST:PORT" (HOST a name, an IPv4 address or a [bracketed] IPv6 one)
 * and "unix:PATH". */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "migrate.h"
#include "sandbox.h"

#define CONNECT_TIMEOUT_S	5

struct uri {
	bool unix_path;
	char host[256];
	char port[8];
	struct sockaddr_un un;
};

static int parse_uri(const char *uri, struct uri *u, char *err, size_t errlen)
{
	*u = (struct uri){ .un.sun_family = AF_UNIX };
	if (strncmp(uri, "unix:", 5) == 0) {
		const char *path = uri + 5;
		if (!*path || strlen(path) >= sizeof(u->un.sun_path)) {
			snprintf(err, errlen, "%s: a Unix socket path of 1..%zu bytes", uri,
				 sizeof(u->un.sun_path) - 1);
			return -1;
		}
		strcpy(u->un.sun_path, path);
		u->unix_path = true;
		return 0;
	}
	if (strncmp(uri, "tcp:", 4) != 0)
		goto bad;
	const char *host = uri + 4, *colon = strrchr(host, ':');
	if (!colon || colon == host)
		goto bad;
	size_t hlen = (size_t)(colon - host);
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	const char *port = colon + 1;
	size_t plen = strlen(port);
	if (!hlen || hlen >= sizeof(u->host) || !plen || plen > 5 ||
	    strspn(port, "0123456789") != plen || strtol(port, NULL, 10) > 65535)
		goto bad;
	memcpy(u->host, host, hlen);
	memcpy(u->port, port, plen);
	return 0;
bad:
	snprintf(err, errlen, "%.128s: not tcp:HOST:PORT or unix:PATH", uri);
	return -1;
}

/* The first address of a tcp URI that gives a socket on which op succeeds. */
static int tcp_socket(const struct uri *u, bool listening, char *err, size_t errlen)
{
	/* Sandboxed, a name lookup would read /etc/hosts and friends: addresses only. */
	bool numeric = sandbox_active();
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = (listening ? AI_PASSIVE : 0) |
					      (numeric ? AI_NUMERICHOST | AI_NUMERICSERV : 0) };
	struct addrinfo *res;
	int e = getaddrinfo(u->host, u->port, &hints, &res);

	if (e) {
		snprintf(err, errlen, "%s: %s", u->host, numeric && e == EAI_NONAME ?
			 "not a numeric address (the sandbox allows no name lookup; "
			 "--sandbox off does)" : gai_strerror(e));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1, ok;
		/* The stream ends with small writes and the answer is one: no Nagle delay. An
		 * accepted socket inherits it. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (listening) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			ok = bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1) == 0;
		} else {
			/* On Linux the send timeout bounds connect() too. */
			struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_S };
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
		}
		if (!ok) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "tcp:%s:%s: %s", u->host, u->port, strerror(saved));
	return fd;
}

int migrate_connect(const char *uri, char *err, size_t errlen)
{
	struct uri u;

	if (parse_uri(uri, &u, err, errlen) < 0)
		return -1;
	if (!u.unix_path)
		return tcp_socket(&u, false, err, errlen);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&u.un, sizeof(u.un)) < 0) {
		snprintf(err, errlen, "%s: %s", uri, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int migrate_listen(const char *uri, char *where, size_t wherelen, char *err, size_t errlen)
{
	struct uri u;

	if (parse_uri(uri, &u, err, errlen) < 0)
		return -1;
	if (u.unix_path) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&u.un, sizeof(u.un)) < 0 ||
		    listen(fd, 1) < 0) {
			snprintf(err, errlen, "%s: %s", uri, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		snprintf(where, wherelen, "%s", uri);
		return fd;
	}
	int fd = tcp_socket(&u, true, err, errlen);
	if (fd < 0)
		return -1;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(where, wherelen, strchr(host, ':') ? "tcp:[%s]:%s" : "tcp:%s:%s", host,
			 port);
	else
		snprintf(where, wherelen, "%s", uri);
	return fd;
}
