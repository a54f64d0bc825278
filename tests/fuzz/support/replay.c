/* Runs a fuzz harness on given inputs without libFuzzer: the seeds and the regression inputs
 * (tests/fuzz/regressions/) in `make check`, under the gcc ASan+UBSan build.
 *   build/fuzz-replay/TARGET FILE...
 * A FILE named *.hex is hex text (whitespace ignored, '#' starts a comment to the end of the
 * line); any other is the input's bytes. A crash is a sanitizer report and a failing status.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int hex_value(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* The input in file path; NULL after a message. */
static uint8_t *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n = strlen(path), cap = 4096, used = 0;
	bool hex = n > 4 && strcmp(path + n - 4, ".hex") == 0, comment = false;
	uint8_t *buf = malloc(cap);
	int c, half = -1;

	if (!f || !buf) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	while ((c = getc(f)) != EOF) {
		if (hex) {
			if (comment || c == '#') {
				comment = c != '\n';
				continue;
			}
			if (isspace(c))
				continue;
			if (!isxdigit(c)) {
				fprintf(stderr, "replay: %s: not hex: '%c'\n", path, c);
				fclose(f);
				free(buf);
				return NULL;
			}
			if (half < 0) {
				half = hex_value(c);
				continue;
			}
			c = half << 4 | hex_value(c);
			half = -1;
		}
		if (used == cap)
			buf = realloc(buf, cap *= 2);
		if (!buf)
			abort();
		buf[used++] = (uint8_t)c;
	}
	fclose(f);
	if (half >= 0) {
		fprintf(stderr, "replay: %s: odd number of hex digits\n", path);
		free(buf);
		return NULL;
	}
	*len = used;
	return buf;
}

int main(int argc, char **argv)
{
	int ran = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		size_t len;
		uint8_t *data = load(argv[i], &len);
		if (!data)
			return 2;
		LLVMFuzzerTestOneInput(data, len);
		free(data);
		ran++;
	}
	printf("replay: %d inputs\n", ran);
	return 0;
}
