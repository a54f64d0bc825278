/* The JSON control socket (`vmon run --api-sock PATH`) and its client (`vmon api`).
 *
 * Protocol: one JSON object per line each way. Request {"cmd":"<name>", ...args}, reply
 * {"ok":true, ...} or {"ok":false,"error":"<one line>"}. Served on the event thread; clients
 * are taken one request at a time, several may be connected.
 */
#ifndef VMON_API_H
#define VMON_API_H

#include <stddef.h>

struct vm;
struct event_loop;
struct api;
struct api_cmd;
struct json_object;

#define API_MAX_LINE	4096	/* a longer request line gets an error reply */

/* Binds and listens on path (refusing an existing non-socket or a live socket). NULL after one
 * line "vmon: ..." on stderr. */
struct api *api_open(struct vm *vm, const char *path);
/* Serve on loop (before it starts). Also removes the socket if a fatal signal ends vmon. */
int api_start(struct api *a, struct event_loop *loop);
/* Closes every connection and removes the socket. NULL is fine. */
void api_close(struct api *a);

/* One request line (no newline) -> its command and the parsed object (json_object_put it), or
 * NULL with the error in err: malformed JSON, not an object, unknown command, wrong argument
 * names or types. */
const struct api_cmd *api_parse_request(const char *line, size_t len, struct json_object **req,
					char *err, size_t errlen);
/* The reply line (no newline) for one request line; free() it. */
char *api_handle_line(struct api *a, const char *line, size_t len);

/* `vmon api SOCK REQUEST|CMD [KEY=VALUE...]`: prints the reply line; returns the exit status
 * (0 ok, 1 error reply, 2 usage or connection failure). */
int api_client_main(int argc, char **argv);

#endif
