/* Opening host files without blocking, regular files only (host_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_file.h"

int host_file_open(const char *path, int flags, mode_t mode, bool chardev_ok, const char **why)
{
	const char *not_file = chardev_ok ? "not a regular file or terminal" : "not a regular file";
	struct stat st;
	int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, mode);

	if (fd < 0) {
		/* O_WRONLY | O_NONBLOCK on a FIFO nobody reads. */
		*why = errno == ENXIO ? not_file : strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*why = strerror(errno);
	} else if (S_ISDIR(st.st_mode)) {
		*why = strerror(EISDIR);
	} else if (!S_ISREG(st.st_mode) && !(chardev_ok && S_ISCHR(st.st_mode))) {
		*why = not_file;
	} else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		*why = strerror(errno);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}
