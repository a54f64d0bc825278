/* Command-line parsing: good and bad inputs. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "test.h"

/* cli_parse with a NULL-terminated list of arguments after "vmon"; errors go to stderr. */
#define PARSE(cfg, ...) parse(cfg, (const char *[]){ "vmon", __VA_ARGS__, NULL })

/* Usage texts and error lines are the parser's job; keep them out of the test report. */
static enum cli_action parse(struct vm_config *cfg, const char **args)
{
	int argc = 0;

	while (args[argc])
		argc++;
	memset(cfg, 0xa5, sizeof(*cfg));

	fflush(stdout);
	fflush(stderr);
	int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO);
	int null = open("/dev/null", O_WRONLY);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	enum cli_action r = cli_parse(argc, (char **)args, cfg);
	fflush(stdout);
	fflush(stderr);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	close(out);
	close(err);
	close(null);
	return r;
}

TEST(cli_size_suffixes)
{
	uint64_t v = 0;

	CHECK(cli_parse_size("64M", &v) == 0);
	CHECK_EQ(v, 64ull << 20);
	CHECK(cli_parse_size("1G", &v) == 0);
	CHECK_EQ(v, 1ull << 30);
	CHECK(cli_parse_size("512K", &v) == 0);
	CHECK_EQ(v, 512ull << 10);
	CHECK(cli_parse_size("2g", &v) == 0);
	CHECK_EQ(v, 2ull << 30);
	CHECK(cli_parse_size("1048576", &v) == 0);
	CHECK_EQ(v, 1048576);
	CHECK(cli_parse_size("", &v) < 0);
	CHECK(cli_parse_size("M", &v) < 0);
	CHECK(cli_parse_size("-1M", &v) < 0);
	CHECK(cli_parse_size("12MB", &v) < 0);
	CHECK(cli_parse_size("1T", &v) < 0);
	CHECK(cli_parse_size("99999999999999999999", &v) < 0);
	CHECK(cli_parse_size("17179869184G", &v) < 0);	/* 2^34 G overflows 64 bits */
}

TEST(cli_defaults)
{
	struct vm_config c;

	CHECK_EQ(PARSE(&c, "run", "--kernel", "k"), CLI_RUN);
	CHECK_EQ(c.engine, ENGINE_AUTO);
	CHECK_EQ(c.mem_size, 256ull << 20);
	CHECK_EQ(c.cpus, 1);
	CHECK_EQ(c.console, CONSOLE_STDIO);
	CHECK(strcmp(c.kernel, "k") == 0);
	CHECK(c.boot_sector == NULL && c.initrd == NULL && c.cmdline == NULL);
	CHECK(!c.stats);
	CHECK(!c.no_sandbox);
}

TEST(cli_sandbox)
{
	struct vm_config c;

	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--sandbox", "off"), CLI_RUN);
	CHECK(c.no_sandbox);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--sandbox=on"), CLI_RUN);
	CHECK(!c.no_sandbox);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--sandbox", "maybe"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--sandbox"), CLI_ERROR);
}

TEST(cli_all_options)
{
	struct vm_config c;

	CHECK_EQ(PARSE(&c, "run", "--engine", "bt", "--kernel=vmlinuz", "--initrd", "rd",
		       "--cmdline", "console=ttyS0 quiet", "--mem=1G", "--cpus", "4",
		       "--console", "out.txt", "--stats"), CLI_RUN);
	CHECK_EQ(c.engine, ENGINE_BT);
	CHECK(strcmp(c.kernel, "vmlinuz") == 0);
	CHECK(strcmp(c.initrd, "rd") == 0);
	CHECK(strcmp(c.cmdline, "console=ttyS0 quiet") == 0);
	CHECK_EQ(c.mem_size, 1ull << 30);
	CHECK_EQ(c.cpus, 4);
	CHECK_EQ(c.console, CONSOLE_FILE);
	CHECK(strcmp(c.console_path, "out.txt") == 0);
	CHECK(c.stats);

	CHECK_EQ(PARSE(&c, "run", "--boot-sector", "b.bin", "--engine", "kvm", "--console",
		       "none", "--mem", "64G", "--cpus", "64"), CLI_RUN);
	CHECK(strcmp(c.boot_sector, "b.bin") == 0);
	CHECK_EQ(c.engine, ENGINE_KVM);
	CHECK_EQ(c.console, CONSOLE_NONE);
	CHECK_EQ(c.mem_size, 64ull << 30);
	CHECK_EQ(c.cpus, 64);
	CHECK_EQ(PARSE(&c, "run", "--boot-sector", "b", "--mem", "1M", "--engine", "auto"),
		 CLI_RUN);
	CHECK_EQ(c.mem_size, 1ull << 20);
	CHECK_EQ(c.engine, ENGINE_AUTO);
}

TEST(cli_help_version)
{
	struct vm_config c;

	CHECK_EQ(PARSE(&c, "--help"), CLI_HELP);
	CHECK_EQ(PARSE(&c, "--version"), CLI_VERSION);
	CHECK_EQ(PARSE(&c, "run", "--help"), CLI_HELP);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--help"), CLI_HELP);
}

TEST(cli_probe)
{
	struct vm_config c;

	CHECK_EQ(PARSE(&c, "probe"), CLI_PROBE);
	CHECK_EQ(PARSE(&c, "probe", "--engine", "kvm"), CLI_ERROR);
}

TEST(cli_bad_sizes_and_counts)
{
	struct vm_config c;

	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--mem", "0"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--mem", "1023K"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--mem", "65G"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--mem", "lots"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--mem", "1048577"), CLI_ERROR);	/* not 4K */
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--cpus", "0"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--cpus", "65"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--cpus", "2x"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--cpus", "-1"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--engine", "qemu"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--console", ""), CLI_ERROR);
}

TEST(cli_bad_usage)
{
	struct vm_config c;

	CHECK_EQ(PARSE(&c, "run"), CLI_ERROR);				/* no image */
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--boot-sector", "b"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--boot-sector", "b", "--initrd", "i"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--boot-sector", "b", "--cmdline", "x"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel"), CLI_ERROR);		/* missing value */
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--mem"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "--frobnicate"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "run", "--kernel", "k", "extra"), CLI_ERROR);
	CHECK_EQ(PARSE(&c, "start", "--kernel", "k"), CLI_ERROR);
	CHECK_EQ(parse(&c, (const char *[]){ "vmon", NULL }), CLI_ERROR);
}

TEST(cli_disks_and_rng)
{
	struct vm_config cfg;

	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--disk", "a.img", "--disk=b,c.img,ro",
		       "--rng"), CLI_RUN);
	CHECK_EQ(cfg.nr_disks, 2);
	CHECK(!strcmp(cfg.disk[0].path, "a.img"));
	CHECK(!cfg.disk[0].readonly);
	CHECK(!strcmp(cfg.disk[1].path, "b,c.img"));
	CHECK(cfg.disk[1].readonly);
	CHECK(cfg.rng);

	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k"), CLI_RUN);
	CHECK_EQ(cfg.nr_disks, 0);
	CHECK(!cfg.rng);
	CHECK(!cfg.net_user);
	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--net", "user"), CLI_RUN);
	CHECK(cfg.net_user);
	CHECK_EQ(cfg.net_backend, NET_BACKEND_AUTO);
	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--net", "passt"), CLI_RUN);
	CHECK(cfg.net_user);
	CHECK_EQ(cfg.net_backend, NET_BACKEND_PASST);
	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--net", "slirp"), CLI_RUN);
	CHECK_EQ(cfg.net_backend, NET_BACKEND_SLIRP);
	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--net", "tap"), CLI_ERROR);

	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--disk", ",ro"), CLI_ERROR);
	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--disk", ""), CLI_ERROR);
	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--disk"), CLI_ERROR);
	CHECK_EQ(PARSE(&cfg, "run", "--kernel", "k", "--disk", "1", "--disk", "2", "--disk", "3",
		       "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7", "--disk", "8",
		       "--disk", "9"), CLI_ERROR);
}
