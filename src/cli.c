/* Command-line parsing. Every error is one line on stderr; the caller exits with status 2. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util/log.h"

static const char usage_main[] =
	"usage: vmon run [options]   run a virtual machine (vmon run --help)\n"
	"       vmon api SOCK REQUEST   send one request to a running vmon's --api-sock\n"
	"                               (REQUEST: a JSON object, or CMD [KEY=VALUE...])\n"
	"       vmon probe              what the host's KVM gets wrong, one check a line\n"
	"                               (docs/kvm.md; cached with --engine auto's figures)\n"
	"       vmon --help | --version\n";

static const char usage_run[] =
	"usage: vmon run [--engine kvm|bt|auto] (--kernel FILE | --boot-sector FILE |\n"
	"                --firmware FILE|seabios)\n"
	"                [--initrd FILE] [--cmdline STR] [--mem SIZE] [--cpus N]\n"
	"                [--console stdio|none|FILE] [--disk FILE[,ro]]... [--rng]\n"
	"                [--net user|passt|slirp] [--stats] [--api-sock PATH] [--sandbox on|off]\n"
	"                [--reboot restart|exit] [--user-mode auto|direct|bt]\n"
	"       vmon run --restore FILE [--disk FILE[,ro]]... [--rng] [--net user]\n"
	"                [--engine E] [--console C] [--stats] [--api-sock PATH]\n"
	"       vmon run --incoming URI [--disk FILE[,ro]]... [--rng] [--net user]\n"
	"                [--engine E] [--console C] [--stats] [--api-sock PATH]\n"
	"\n"
	"  --engine E        kvm (/dev/kvm), bt (software), or auto (default): bt if kvm is\n"
	"                    unusable, else the faster of the two by a short probe (cached\n"
	"                    per host boot); says which and why on stderr\n"
	"  --kernel FILE     Linux bzImage or multiboot kernel\n"
	"  --firmware F      start a PC BIOS image from the reset vector (F: a file, or seabios for\n"
	"                    Debian's /usr/share/seabios/bios-256k.bin); it boots from the disks\n"
	"  --boot-sector FILE  raw real-mode image loaded at 0x7c00 (512 bytes..1 MiB)\n"
	"  --initrd FILE     initial ramdisk (Linux) or module (multiboot)\n"
	"  --cmdline STR     kernel command line\n"
	"  --mem SIZE        guest RAM, 1M..64G: 512K, 64M, 1G or bytes (default 256M)\n"
	"  --cpus N          vCPUs, 1..64 (default 1)\n"
	"  --console C       COM1: stdio (default; Ctrl-A x quits, Ctrl-A h helps), none, or FILE\n"
	"  --disk FILE[,ro]  virtio-blk disk on a qcow2 image (by its magic) or a raw one (a multiple\n"
	"                    of 512 bytes), read-only with ,ro; up to 8, /dev/vda, /dev/vdb ... in order\n"
	"  --rng             virtio-rng device fed by the host's getrandom()\n"
	"  --net user        virtio-net on a user-mode network in a sandboxed process: DHCP\n"
	"                    gives the guest 10.0.2.15, the host's loopback is 10.0.2.2; passt\n"
	"                    where installed, else libslirp in a helper (--net passt|slirp\n"
	"                    to choose)\n"
	"  --stats           print exit counters on stderr when the VM ends\n"
	"  --api-sock PATH   JSON control socket, one object per line: status, stats, pause,\n"
	"                    resume, snapshot, quit, help (vmon api PATH help)\n"
	"  --user-mode M     bt engine, guest user mode (CPL 3): direct (runs natively in a\n"
	"                    traced host process; fails where the host cannot), bt (default:\n"
	"                    the interpreter/translator), or auto: direct where the host\n"
	"                    can, per address space only while it pays\n"
	"  --sandbox on|off  seccomp allowlist once the VM is built (default on; off for\n"
	"                    debugging: gdb, strace of what a new feature calls)\n"
	"  --reboot R        when the guest resets the machine (Linux `reboot`): restart\n"
	"                    (default) boots it again from its power-on state, exit ends vmon\n"
	"                    with status 0 (QEMU's -no-reboot); a kernel panic always exits 3\n"
	"  --restore FILE    continue the VM saved by the API's snapshot command; give it the\n"
	"                    devices it was taken with (disks of the same sizes, --rng, --net)\n"
	"  --incoming URI    wait on tcp:HOST:PORT (port 0: any) or unix:PATH for a VM that\n"
	"                    the API's migrate command sends, then run it (devices as --restore)\n";

static enum cli_action fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static enum cli_action fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmon_vlog(fmt, ap);
	va_end(ap);
	return CLI_ERROR;
}

int cli_parse_size(const char *s, uint64_t *bytes)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;

	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static int parse_int(const char *s, int *out)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno || *end || v > 1000000)
		return -1;
	*out = (int)v;
	return 0;
}

/* --opt VALUE or --opt=VALUE; *i is advanced past what was consumed. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (arg[n] == '=')
		return arg + n + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* FILE or FILE,ro. The file itself is checked when the VM is built. */
static enum cli_action parse_disk(const char *val, struct vm_config *cfg)
{
	size_t len = strlen(val);
	bool ro = len >= 3 && strcmp(val + len - 3, ",ro") == 0;

	if (cfg->nr_disks >= VM_MAX_DISKS)
		return fail("--disk %s: at most %d disks", val, VM_MAX_DISKS);
	if (!*val || (ro && len == 3))
		return fail("--disk needs FILE or FILE,ro");
	if (ro)
		len -= 3;
	if (len >= sizeof(cfg->disk[0].path))
		return fail("--disk %s: file name too long", val);
	memcpy(cfg->disk[cfg->nr_disks].path, val, len);
	cfg->disk[cfg->nr_disks].path[len] = 0;
	cfg->disk[cfg->nr_disks++].readonly = ro;
	return CLI_RUN;
}

static enum cli_action parse_run(int argc, char **argv, struct vm_config *cfg)
{
	*cfg = (struct vm_config){
		.engine = ENGINE_AUTO,
		/* auto's policy does not yet keep fork-heavy work (a systemd boot) as fast as bt */
		.user_mode = USER_MODE_BT,
		.mem_size = 256ull << 20,
		.cpus = 1,
		.console = CONSOLE_STDIO,
	};

	bool machine_given = false;	/* --mem or --cpus */

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		char name[32];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage_run, stdout);
			return CLI_HELP;
		}
		if (strcmp(arg, "--stats") == 0) {
			cfg->stats = true;
			continue;
		}
		if (strcmp(arg, "--rng") == 0) {
			cfg->rng = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			return fail("unexpected argument '%s' (try vmon run --help)", arg);

		size_t n = strcspn(arg, "=");
		if (n >= sizeof(name))
			return fail("unknown option %s", arg);
		memcpy(name, arg, n);
		name[n] = 0;

		static const char *const with_value[] = {
			"--engine", "--kernel", "--boot-sector", "--initrd", "--cmdline", "--mem",
			"--cpus", "--console", "--api-sock", "--restore", "--disk", "--net",
			"--incoming", "--sandbox", "--reboot", "--firmware", "--user-mode",
		};
		bool known = false;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			known |= strcmp(name, with_value[k]) == 0;
		if (!known)
			return fail("unknown option %s (try vmon run --help)", name);

		const char *val = option_value(argc, argv, &i, name);
		if (!val)
			return fail("%s needs a value", name);

		if (strcmp(name, "--engine") == 0) {
			if (strcmp(val, "kvm") == 0)
				cfg->engine = ENGINE_KVM;
			else if (strcmp(val, "bt") == 0)
				cfg->engine = ENGINE_BT;
			else if (strcmp(val, "auto") == 0)
				cfg->engine = ENGINE_AUTO;
			else
				return fail("--engine %s: must be kvm, bt or auto", val);
		} else if (strcmp(name, "--user-mode") == 0) {
			if (strcmp(val, "direct") == 0)
				cfg->user_mode = USER_MODE_DIRECT;
			else if (strcmp(val, "bt") == 0)
				cfg->user_mode = USER_MODE_BT;
			else if (strcmp(val, "auto") == 0)
				cfg->user_mode = USER_MODE_AUTO;
			else
				return fail("--user-mode %s: must be auto, direct or bt", val);
		} else if (strcmp(name, "--kernel") == 0) {
			cfg->kernel = val;
		} else if (strcmp(name, "--boot-sector") == 0) {
			cfg->boot_sector = val;
		} else if (strcmp(name, "--firmware") == 0) {
			cfg->firmware = val;
		} else if (strcmp(name, "--initrd") == 0) {
			cfg->initrd = val;
		} else if (strcmp(name, "--api-sock") == 0) {
			if (!*val)
				return fail("--api-sock needs a path");
			cfg->api_sock = val;
		} else if (strcmp(name, "--restore") == 0) {
			cfg->restore = val;
		} else if (strcmp(name, "--incoming") == 0) {
			cfg->incoming = val;
		} else if (strcmp(name, "--cmdline") == 0) {
			cfg->cmdline = val;
		} else if (strcmp(name, "--mem") == 0) {
			uint64_t size;
			if (cli_parse_size(val, &size) < 0 || size < MEM_MIN || size > MEM_MAX)
				return fail("--mem %s: size must be 1M..64G", val);
			if (size & 0xfff)
				return fail("--mem %s: size must be a multiple of 4K", val);
			cfg->mem_size = size;
			machine_given = true;
		} else if (strcmp(name, "--cpus") == 0) {
			if (parse_int(val, &cfg->cpus) < 0 || cfg->cpus < 1 ||
			    cfg->cpus > VM_MAX_CPUS)
				return fail("--cpus %s: must be 1..%d", val, VM_MAX_CPUS);
			machine_given = true;
		} else if (strcmp(name, "--net") == 0) {
			if (strcmp(val, "user") == 0)
				cfg->net_backend = NET_BACKEND_AUTO;
			else if (strcmp(val, "passt") == 0)
				cfg->net_backend = NET_BACKEND_PASST;
			else if (strcmp(val, "slirp") == 0)
				cfg->net_backend = NET_BACKEND_SLIRP;
			else
				return fail("--net %s: must be user, passt or slirp", val);
			cfg->net_user = true;
		} else if (strcmp(name, "--sandbox") == 0) {
			if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
				return fail("--sandbox %s: must be on or off", val);
			cfg->no_sandbox = strcmp(val, "off") == 0;
		} else if (strcmp(name, "--reboot") == 0) {
			if (strcmp(val, "restart") != 0 && strcmp(val, "exit") != 0)
				return fail("--reboot %s: must be restart or exit", val);
			cfg->reboot_exit = strcmp(val, "exit") == 0;
		} else if (strcmp(name, "--disk") == 0) {
			if (parse_disk(val, cfg) == CLI_ERROR)
				return CLI_ERROR;
		} else {	/* --console */
			if (strcmp(val, "stdio") == 0) {
				cfg->console = CONSOLE_STDIO;
			} else if (strcmp(val, "none") == 0) {
				cfg->console = CONSOLE_NONE;
			} else if (*val) {
				cfg->console = CONSOLE_FILE;
				cfg->console_path = val;
			} else {
				return fail("--console needs stdio, none or a file name");
			}
		}
	}

	if (cfg->restore && cfg->incoming)
		return fail("--restore and --incoming exclude each other");
	if (cfg->restore || cfg->incoming) {
		if (cfg->kernel || cfg->boot_sector || cfg->firmware || cfg->initrd || cfg->cmdline ||
		    machine_given)
			return fail("%s takes the machine from the %s: no --kernel, --boot-sector, "
				    "--initrd, --cmdline, --mem or --cpus",
				    cfg->restore ? "--restore" : "--incoming",
				    cfg->restore ? "snapshot" : "migration stream");
		return CLI_RUN;
	}
	if (!!cfg->kernel + !!cfg->boot_sector + !!cfg->firmware > 1)
		return fail("--kernel, --boot-sector and --firmware exclude each other");
	if (!cfg->kernel && !cfg->boot_sector && !cfg->firmware)
		return fail("run needs --kernel FILE or --boot-sector FILE");
	if (!cfg->kernel && (cfg->initrd || cfg->cmdline))
		return fail("--initrd and --cmdline need --kernel");
	return CLI_RUN;
}

enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg)
{
	if (argc < 2)
		return fail("missing command (try vmon --help)");

	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		fputs("\n", stdout);
		fputs(usage_run, stdout);
		return CLI_HELP;
	}
	if (strcmp(cmd, "--version") == 0) {
		puts("vmon " VMON_VERSION);
		return CLI_VERSION;
	}
	if (strcmp(cmd, "run") == 0)
		return parse_run(argc - 2, argv + 2, cfg);
	if (strcmp(cmd, "api") == 0)
		return CLI_API;
	if (strcmp(cmd, "probe") == 0)
		return argc == 2 ? CLI_PROBE : fail("probe takes no arguments");
	return fail("unknown command '%s' (try vmon --help)", cmd);
}
