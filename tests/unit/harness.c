#include <string.h>

#include "net/backend.h"
#include "test.h"

static struct test_case *tests, **tail = &tests;

void test_register(struct test_case *t)
{
	*tail = t;
	tail = &t->next;
}

/* Usage: unit-tests [substring]  — runs the tests whose name contains substring. */
int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	/* virtio-net's tests start the slirp helper as this binary (src/net/backend.c). */
	if (argc == 2 && strcmp(argv[1], NET_SLIRP_HELPER_CMD) == 0)
		return net_slirp_helper_main();

	for (struct test_case *t = tests; t; t = t->next) {
		if (argc > 1 && !strstr(t->name, argv[1]))
			continue;
		int f = 0;
		t->fn(&f);
		printf("%s %s\n", f ? "FAIL" : "ok  ", t->name);
		f ? failed++ : passed++;
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
