/* The control socket's request parsing: good requests, malformed JSON, unknown commands, wrong
 * argument names and types, over-long lines; and the error reply line. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "test.h"

/* Parses line; returns the error text ("" when it parsed). */
static const char *parse(const char *line, char *err, size_t errlen)
{
	struct json_object *req;

	err[0] = 0;
	if (api_parse_request(line, strlen(line), &req, err, errlen))
		json_object_put(req);
	return err;
}

TEST(api_parse_good_requests)
{
	char err[256];
	struct json_object *req;

	CHECK(api_parse_request("{\"cmd\":\"status\"}", 16, &req, err, sizeof(err)) != NULL);
	json_object_put(req);
	CHECK_EQ(strlen(parse(" {\"cmd\":\"pause\"} \r", err, sizeof(err))), 0);
	CHECK_EQ(strlen(parse("{\"cmd\":\"snapshot\",\"path\":\"/tmp/x\",\"paused\":true}", err,
			      sizeof(err))), 0);
	CHECK_EQ(strlen(parse("{\"cmd\":\"snapshot\",\"path\":\"x\",\"compress\":false}", err,
			      sizeof(err))), 0);
}

TEST(api_parse_malformed)
{
	char err[256];

	CHECK(strncmp(parse("{\"cmd\":", err, sizeof(err)), "malformed JSON", 14) == 0);
	CHECK(strncmp(parse("{cmd: status}", err, sizeof(err)), "malformed JSON", 14) == 0);
	CHECK(strncmp(parse("{\"cmd\":\"status\"} {}", err, sizeof(err)), "malformed JSON", 14) == 0);
	CHECK(strncmp(parse("", err, sizeof(err)), "malformed JSON", 14) == 0);
	CHECK(strncmp(parse("\x01\xff\xfe", err, sizeof(err)), "malformed JSON", 14) == 0);
	CHECK(strstr(parse("[\"status\"]", err, sizeof(err)), "string \"cmd\"") != NULL);
	CHECK(strstr(parse("{\"cmd\":5}", err, sizeof(err)), "string \"cmd\"") != NULL);
	CHECK(strstr(parse("\"status\"", err, sizeof(err)), "string \"cmd\"") != NULL);
}

TEST(api_parse_unknown_and_arguments)
{
	char err[256];

	CHECK(strstr(parse("{\"cmd\":\"reboot\"}", err, sizeof(err)), "unknown command") != NULL);
	CHECK(strstr(parse("{\"cmd\":\"status\",\"verbose\":true}", err, sizeof(err)),
		     "unknown argument") != NULL);
	CHECK(strstr(parse("{\"cmd\":\"snapshot\",\"path\":5}", err, sizeof(err)),
		     "\"path\" must be a string") != NULL);
	CHECK(strstr(parse("{\"cmd\":\"snapshot\",\"path\":\"x\",\"paused\":\"yes\"}", err,
			   sizeof(err)), "\"paused\" must be a boolean") != NULL);
	CHECK(strstr(parse("{\"cmd\":\"snapshot\"}", err, sizeof(err)), "needs \"path\"") != NULL);
}

TEST(api_parse_too_long)
{
	char err[256];
	struct json_object *req;
	size_t len = API_MAX_LINE + 100;
	char *line = malloc(len + 1);

	memset(line, ' ', len);
	memcpy(line, "{\"cmd\":\"status\"}", 16);
	line[len] = 0;
	CHECK(api_parse_request(line, len, &req, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "too long") != NULL);
	free(line);
}

TEST(api_error_reply_is_one_json_line)
{
	char *reply = api_handle_line(NULL, "{\"cmd\":\"nope\\n\"}", 16);
	struct json_object *o = reply ? json_tokener_parse(reply) : NULL, *ok, *error;

	CHECK(reply && !strchr(reply, '\n'));
	CHECK(o && json_object_object_get_ex(o, "ok", &ok) && !json_object_get_boolean(ok));
	CHECK(o && json_object_object_get_ex(o, "error", &error) &&
	      strstr(json_object_get_string(error), "unknown command"));
	json_object_put(o);
	free(reply);

	reply = api_handle_line(NULL, "{\"cmd\":\"help\"}", 14);
	CHECK(reply && strncmp(reply, "{\"ok\":true,\"commands\":{", 23) == 0);
	free(reply);
}
