/* vmon: `vmon run ...` -> command line -> VM -> run -> exit status. */
#include <signal.h>

#include "api.h"
#include "cli.h"
#include "vm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;

	switch (cli_parse(argc, argv, &cfg)) {
	case CLI_HELP:
	case CLI_VERSION:
		return EXIT_STATUS_OK;
	case CLI_ERROR:
		return EXIT_STATUS_USAGE;
	case CLI_API:
		return api_client_main(argc - 2, argv + 2);
	case CLI_RUN:
		break;
	}

	/* A closed console pipe must not kill vmon mid-run: the UART drops what it cannot write. */
	signal(SIGPIPE, SIG_IGN);

	struct vm *vm;
	int status = vm_create(&cfg, &vm);
	if (status)
		return status;
	status = vm_run(vm);
	vm_destroy(vm);
	return status;
}
