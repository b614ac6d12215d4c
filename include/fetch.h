/*
 * fetch.h - attachment bytes: downloaded once, kept in a content cache.
 *
 * The content cache is a directory of files named by a hash of where the
 * bytes come from.  A download writes a temporary file and renames it when
 * complete, so a crash never leaves a truncated file that is later served;
 * leftovers are removed at start.  Readers of a file being downloaded share
 * that one download and get each range as soon as it has arrived, reading
 * it back from the temporary file, so memory stays small whatever the file
 * size.  When the cache grows past its limit, the least recently used files
 * are removed.
 */
#ifndef TEAMSFS_FETCH_H
#define TEAMSFS_FETCH_H

#include <sys/types.h>

#include "jobs.h"

struct graph;
struct fetcher;
struct fetch_file;

/*
 * Creates a fetcher keeping at most @max_bytes in @dir (created 0700)
 * and downloading through @g (unless @offline).  Returns 0 or -errno.
 */
int fetcher_new(const char *dir, long long max_bytes, struct graph *g,
		int offline, struct fetcher **out);

/* Waits for downloads in progress to stop, then frees @f. */
void fetcher_free(struct fetcher *f);

/*
 * Opens the bytes that Graph serves at @path ("shares/.../content" or a
 * hosted content's ".../$value"): from the content cache, or by joining or
 * starting their download.  @what names them in log lines.  Returns 0 or
 * -EIO when offline and not cached.
 */
int fetch_open(struct fetcher *f, const char *path, const char *what,
	       struct fetch_file **out);

/*
 * Reads up to @size bytes at @off into @buf, waiting until they have
 * arrived or the file ended, or @cancel says stop (-EINTR).  Returns the
 * bytes read (fewer only at the end of the file) or the download's -errno
 * (-EACCES, -ENOENT, -EIO).
 */
ssize_t fetch_read(struct fetch_file *ff, char *buf, size_t size, off_t off,
		   jobs_cancel_fn cancel, void *arg);

/*
 * Waits for the whole file and returns its size, or -errno like
 * fetch_read().
 */
long long fetch_size(struct fetch_file *ff, jobs_cancel_fn cancel, void *arg);

/*
 * Returns the content type the download host gave, once a download this
 * file joined has ended; NULL when served from the cache or unknown.
 */
const char *fetch_content_type(struct fetch_file *ff);

void fetch_close(struct fetch_file *ff);

#endif
