/* --engine auto: the decision from measured figures, the cache file's format, and the probe
 * guest on the bt engine (that it runs correctly, not how fast). */
#include <string.h>

#include "engine/autoselect.h"
#include "test.h"

static const struct probe_cache sample = {
	.boot_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	.kvm_id = "10:232 ino 97 ctime 1700000000.123456789",
	.exe_id = "2049 ino 1234 mtime 1700000001.000000000 size 4242",
	.fig = { .bt_ips = 95000000, .kvm_ips = 2100000 },
	.kvm_checks = 0x8000000000012345ull,
};

TEST(autoselect_picks_bt_when_kvm_is_slower)
{
	struct probe_figures f = { .bt_ips = 95000000, .kvm_ips = 2100000 };
	char why[160];

	CHECK(autoselect_decide(&f, why, sizeof(why)) == &bt_engine);
	CHECK(strcmp(why, "probe: bt 95 M guest insns/s at ring 0, kvm 2.1 M/s") == 0);
}

TEST(autoselect_picks_kvm_when_faster_or_equal)
{
	struct probe_figures f = { .bt_ips = 95000000, .kvm_ips = 1400000000, .cached = true };
	char why[160];

	CHECK(autoselect_decide(&f, why, sizeof(why)) == &kvm_engine);
	CHECK(strcmp(why, "probe, cached: kvm 1.4 G guest insns/s at ring 0, bt 95 M/s") == 0);
	f.kvm_ips = f.bt_ips;
	CHECK(autoselect_decide(&f, why, sizeof(why)) == &kvm_engine);
}

TEST(autoselect_cache_round_trip)
{
	char text[1024];
	struct probe_cache c;
	int n = probe_cache_format(&sample, text, sizeof(text));

	CHECK(n > 0);
	CHECK_EQ(strlen(text), n);
	CHECK_EQ(probe_cache_parse(text, &c), 0);
	CHECK(strcmp(c.boot_id, sample.boot_id) == 0);
	CHECK(strcmp(c.kvm_id, sample.kvm_id) == 0);
	CHECK(strcmp(c.exe_id, sample.exe_id) == 0);
	CHECK_EQ(c.fig.bt_ips, sample.fig.bt_ips);
	CHECK_EQ(c.fig.kvm_ips, sample.fig.kvm_ips);
	CHECK_EQ(c.kvm_checks, sample.kvm_checks);
	CHECK(c.fig.cached);
	/* Too small a buffer: refused, never a truncated file. */
	CHECK_EQ(probe_cache_format(&sample, text, 40), -1);
}

/* The sample's text with the first occurrence of from replaced by to, parsed. */
static int parse_edited(const char *from, const char *to)
{
	char text[1024], edited[2048];
	struct probe_cache c;

	probe_cache_format(&sample, text, sizeof(text));
	char *at = strstr(text, from);
	if (!at)
		return 99;
	snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return probe_cache_parse(edited, &c);
}

TEST(autoselect_cache_rejects_damaged_files)
{
	struct probe_cache c;
	char long_id[200];

	/* Version 1 had no kvm_checks line. */
	CHECK_EQ(parse_edited("vmon-engine-probe 2", "vmon-engine-probe 1"), -1);
	CHECK_EQ(parse_edited("boot_id ", "boot-id "), -1);
	CHECK_EQ(parse_edited("kvm_dev 10:232 ino 97 ctime 1700000000.123456789\n", ""), -1);
	CHECK_EQ(parse_edited("bt_ips 95000000", "bt_ips 95M"), -1);
	CHECK_EQ(parse_edited("bt_ips 95000000", "bt_ips -1"), -1);
	CHECK_EQ(parse_edited("bt_ips 95000000", "bt_ips "), -1);
	CHECK_EQ(parse_edited("kvm_ips 2100000", "kvm_ips 18446744073709551616"), -1);
	CHECK_EQ(parse_edited("kvm_checks 9223372036854850373\n", "kvm_checks 9223372036854850373"),
		 -1);	/* truncated */
	CHECK_EQ(parse_edited("kvm_checks 9223372036854850373\n",
			      "kvm_checks 9223372036854850373\nextra\n"), -1);
	CHECK_EQ(parse_edited("kvm_checks 9223372036854850373\n", ""), -1);
	CHECK_EQ(parse_edited("ino 97", "ino\t97"), -1);
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;
	CHECK_EQ(parse_edited("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", long_id), -1);
	CHECK_EQ(probe_cache_parse("", &c), -1);
	CHECK_EQ(parse_edited("kvm_ips 2100000", "kvm_ips 18446744073709551615"), 0);
}

TEST(autoselect_without_kvm_takes_bt_without_probing)
{
	char reason[160], why[160];

	if (kvm_engine.probe(reason, sizeof(reason)) == 0)
		return;		/* kvm usable: engine_autoselect would probe, covered elsewhere */
	CHECK(engine_autoselect(why, sizeof(why)) == &bt_engine);
	CHECK(strncmp(why, "kvm unavailable: ", 17) == 0);
	CHECK(strcmp(why + 17, reason) == 0);
}

TEST(autoselect_probe_guest_runs_on_bt)
{
	uint64_t ips = 0;
	char why[160] = "";

	CHECK_EQ(autoselect_measure(&bt_engine, &ips, why, sizeof(why)), 0);
	CHECK(ips > 0);
	if (why[0])
		fprintf(stderr, "  probe failed: %s\n", why);
}
