/* The API's request parser (api_parse_request): every line of the input as one request line, as
 * the control socket splits what a client sends. An accepted request names a known command and
 * only its arguments, with their types.
 */
#include <json-c/json.h>
#include <string.h>

#include "api.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		struct json_object *req;
		char err[256];

		if (api_parse_request(p, len, &req, err, sizeof(err))) {
			struct json_object *cmd;
			if (!json_object_object_get_ex(req, "cmd", &cmd))
				__builtin_trap();
			json_object_put(req);
		} else if (req || !memchr(err, 0, sizeof(err)) || !err[0]) {
			__builtin_trap();	/* a refusal says why, and hands back nothing */
		}
		p += len + 1;
	}
	return 0;
}
