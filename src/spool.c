/* spool.c - directories of files written whole, and what a crash left. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int spool_open(const char *dir, const char *what)
{
	struct dirent *e;
	DIR *d;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		int rc = -errno;

		log_error("cannot create %s %s: %s", what, dir,
			  strerror(errno));
		return rc;
	}
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "tmp-", 4))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return 0;
}
