/*
 * openfiles.h - files kept open between the kernel's reads.
 *
 * teamsfs answers the kernel's first open with ENOSYS, which tells the
 * kernel that opening a file needs no request at all: from then on opens and
 * closes cost no round trip, and the kernel keeps each file's pages cached
 * until teamsfs says the file changed.  Every read then names only the inode.
 * This keeps the few files read most lately open (a message's bytes, a
 * rendered transcript), so that the reads of one large file do not each
 * open it again; attachments are opened for each read (from the content
 * cache, or joining their download).
 *
 * Nothing half-changed is read: a file a refresh changed gets another
 * generation (nodes_generation()), and a read of the inode the kernel knew
 * before the change answers -ESTALE until the kernel has looked the file up
 * again, as NFS does for a file replaced under a reader.
 */
#ifndef TEAMSFS_OPENFILES_H
#define TEAMSFS_OPENFILES_H

#include <stdint.h>

#include "jobs.h"

struct tree;
struct tree_file;
struct openfiles;

/* Keeps up to @n files of tree @t open.  Returns 0 or -ENOMEM. */
int openfiles_new(struct tree *t, unsigned n, struct openfiles **out);

/* Closes every file; none may be in use. */
void openfiles_free(struct openfiles *o);

/*
 * Finds file @ino open as of change count @changes (the number of changes a
 * refresh made so far), or opens it, and marks it in use.  Returns 0 with
 * *@f, or -errno: -ESTALE if the kernel does not know @ino or knows another
 * version of it.
 */
int openfiles_get(struct openfiles *o, uint64_t ino, uint64_t changes,
		  struct tree_file **f, jobs_cancel_fn cancel, void *arg);

/* Ends a use of @f that openfiles_get() began. */
void openfiles_put(struct openfiles *o, struct tree_file *f);

#endif
