/* `vmon` command line: argv -> struct vm_config, nothing else. */
#ifndef VMON_CLI_H
#define VMON_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "vm.h"

#define VMON_VERSION "0.1"

enum cli_action {
	CLI_RUN,	/* cfg is filled in */
	CLI_HELP,	/* usage printed on stdout */
	CLI_VERSION,	/* version printed on stdout */
	CLI_ERROR,	/* one line "vmon: ..." printed on stderr */
	CLI_API,	/* `vmon api ...`: api_client_main(argc - 2, argv + 2) */
	CLI_PROBE,	/* `vmon probe`: kvm_probe_main() */
};

enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg);

/* "64M", "1G", "512K", "1048576" -> bytes. Returns 0, or -1 if not a size or it overflows. */
int cli_parse_size(const char *s, uint64_t *bytes);

#endif
