#include <string.h>

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
