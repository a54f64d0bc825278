/* Tiny unit-test harness: TEST(name) { ... CHECK(cond); } registers itself; harness.c runs all
 * tests and prints "unit: N passed, N failed". */
#ifndef VMON_TEST_H
#define VMON_TEST_H

#include <stdio.h>

struct test_case {
	const char *name;
	void (*fn)(int *failed);
	struct test_case *next;
};

void test_register(struct test_case *t);

#define TEST(name)							\
	static void test_##name(int *failed_);				\
	static struct test_case tc_##name = { #name, test_##name, 0 };	\
	__attribute__((constructor)) static void reg_##name(void)	\
	{ test_register(&tc_##name); }					\
	static void test_##name(int *failed_)

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",		\
			__FILE__, __LINE__, #cond);			\
		*failed_ = 1;						\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	unsigned long long a_ = (unsigned long long)(a);		\
	unsigned long long b_ = (unsigned long long)(b);		\
	if (a_ != b_) {							\
		fprintf(stderr, "  %s:%d: %s == %#llx, expected %s == %#llx\n", \
			__FILE__, __LINE__, #a, a_, #b, b_);		\
		*failed_ = 1;						\
	}								\
} while (0)

#endif
