/* control.c - the "teamsfs refresh" command, a client of a mounted teamsfs */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int control_refresh_main(int argc, char **argv)
{
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: teamsfs refresh PATH...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0 || ioctl(fd, TEAMSFS_IOC_REFRESH) < 0) {
			int err = errno;

			fprintf(stderr,
				"teamsfs: error: cannot refresh %s: %s\n",
				argv[i],
				err == ENOTTY || err == EINVAL
					? "not inside a teamsfs mount"
					: strerror(err));
			status = 1;
		}
		if (fd >= 0)
			close(fd);
	}
	return status;
}
