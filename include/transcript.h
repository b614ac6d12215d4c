/*
 * transcript.h - each chat and channel as one readable file:
 *
 *   /transcripts/users/<user>/<chat>.html  and  <chat>.txt
 *   /transcripts/teams/<team>/<channel>.html and <channel>.txt
 *
 * Messages come in conversation order: by createdDateTime, with a channel
 * thread's replies right after their root.  Both files are rendered
 * together, message by message, from the cache into files in the
 * "transcripts" directory of the cache directory (mode 0600), written to
 * a temporary name, synced and renamed, so a size given at stat time is
 * the size read and a killed process leaves nothing half-written.  Only the
 * order of the messages (one small entry each) is held in memory.
 *
 * A rendered file is named after its container and the container's state
 * (newest modification time, message count, and a sum over every message's
 * name and mtime, read from the cache at each stat), so a refresh that
 * changes a message, through any scope that shares the chat, makes the
 * next stat render again; until then sizes, bytes and mtimes stay put.  The
 * mtime is the newest message's.
 */
#ifndef TEAMSFS_TRANSCRIPT_H
#define TEAMSFS_TRANSCRIPT_H

#include <stdint.h>

struct cache;
struct transcripts;

enum transcript_format {
	TRANSCRIPT_HTML,
	TRANSCRIPT_TEXT,
};

/*
 * Sets up transcripts kept in directory @dir (created 0700 if missing;
 * leftovers of an interrupted rendering are removed).  Returns 0 or -errno.
 */
int transcripts_new(struct cache *c, const char *dir, struct transcripts **out);

void transcripts_free(struct transcripts *tr);

/*
 * Splits file name @file ("<container>.html" or "<container>.txt") into
 * the container's name, copied into @cont (NAME_MAX_BYTES + 1 bytes), and
 * its format.  Returns 0, or -ENOENT for any other name.
 */
int transcript_name(const char *file, char *cont, enum transcript_format *fmt);

/* A rendered transcript. */
struct transcript_info {
	uint64_t size;
	int64_t mtime_ns;
};

/*
 * Renders, unless already rendered for what the cache now holds, the
 * transcripts of container @cont of the scope of @owner of @kind, and
 * fills @info for format @fmt; with @fd not NULL, also opens the file and
 * stores its descriptor in *@fd (the caller closes it).  Returns 0,
 * -ENOENT if the container is not in the cache, or -errno.
 */
int transcript_get(struct transcripts *tr, char kind, const char *owner,
		   const char *cont, enum transcript_format fmt,
		   struct transcript_info *info, int *fd);

#endif
