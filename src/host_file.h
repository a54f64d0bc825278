/* Host files vmon opens by name (--kernel, --initrd, --boot-sector, --restore, --console FILE,
 * the API's snapshot FILE.tmp). Opening never blocks: a FIFO would hold vmon (and with a
 * snapshot, the paused VM and the whole control plane) until someone opened its other end. What
 * is not a regular file is refused (a terminal or other character device too, where asked). */
#ifndef VMON_HOST_FILE_H
#define VMON_HOST_FILE_H

#include <stdbool.h>
#include <sys/types.h>

/* The flags the snapshot writer opens FILE.tmp with (the sandbox allows exactly these). */
#define HOST_FILE_CREATE_FLAGS	(O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK)

/* open(path, flags | O_NONBLOCK | O_CLOEXEC, mode): the descriptor (blocking again), or -1 with
 * *why saying why (errno's text, or what the file is instead). chardev_ok also takes a
 * character device (a terminal, /dev/null). */
int host_file_open(const char *path, int flags, mode_t mode, bool chardev_ok, const char **why);

#endif
