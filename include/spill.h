/*
 * spill.h - where the inode table puts the nodes it lets go of.
 *
 * The kernel may keep every inode of a large tenant, with its cached pages,
 * for as long as it likes; the inode table (nodes.h) keeps only a bounded
 * number in memory.  Leaf nodes beyond that are written here, inode number
 * to path, so that whatever the kernel later asks of them can still be
 * answered, and the kernel never has to be told to drop them.
 *
 * The spill is an LMDB file of its own in the cache directory, unlinked as
 * soon as it is open: it lives as long as the mount, is never synced, and a
 * crash leaves nothing behind.  Its pages are the kernel's page cache, not
 * teamsfs's memory.
 */
#ifndef TEAMSFS_SPILL_H
#define TEAMSFS_SPILL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spill;

/* One node: its number and a packed description (at most SPILL_MAX). */
struct spill_rec {
	uint64_t ino;
	const void *data;
	size_t len;
};

#define SPILL_MAX 2048

/* Creates an empty spill in directory @dir.  Returns 0 or -errno. */
int spill_open(const char *dir, struct spill **out);

void spill_close(struct spill *s);

/* Stores @n records in one transaction, replacing any with the same
 * numbers.  Returns 0 or -errno. */
int spill_put(struct spill *s, const struct spill_rec *r, size_t n);

/* Removes the records of the @n numbers in @ino, in one transaction (those
 * not there are no error).  Returns 0 or -errno. */
int spill_del(struct spill *s, const uint64_t *ino, size_t n);

/*
 * Copies the record of @ino into @buf of SPILL_MAX bytes.  Returns its
 * length, -ENOENT if there is none, or -errno.
 */
ssize_t spill_get(struct spill *s, uint64_t ino, void *buf);

#endif
