/* vmon: `vmon run ...` -> command line -> runner (VM and its host side) -> run -> exit status. */
#include <signal.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "engine/kvm/probe.h"
#include "net/backend.h"
#include "runner.h"
#include "sandbox.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;

	if (argc == 2 && strcmp(argv[1], NET_SLIRP_HELPER_CMD) == 0)
		return net_slirp_helper_main();
	switch (cli_parse(argc, argv, &cfg)) {
	case CLI_HELP:
	case CLI_VERSION:
		return EXIT_STATUS_OK;
	case CLI_ERROR:
		return EXIT_STATUS_USAGE;
	case CLI_API:
		return api_client_main(argc - 2, argv + 2);
	case CLI_PROBE:
		return kvm_probe_main();
	case CLI_RUN:
		break;
	}
	cfg.start_ns = stats_start_ns();

	/* A closed console pipe must not kill vmon mid-run: the UART drops what it cannot write. */
	signal(SIGPIPE, SIG_IGN);

	struct runner *r;
	int status = runner_create(&cfg, &r);
	if (status)
		return status;
	struct vm *vm = runner_vm(r);
	/* Everything is open and loaded: from here on only what running the VM needs. */
	if (!cfg.no_sandbox) {
		struct sandbox_policy policy = {
			.kvm = vm->engine == &kvm_engine,
			.api = cfg.api_sock != NULL,
		};
		if (sandbox_enter(&policy) < 0) {
			runner_destroy(r);
			return EXIT_STATUS_HOST;
		}
	}
	status = runner_run(r);
	runner_destroy(r);
	return status;
}
