/*
 * spool.h - the directories of whole files teamsfs keeps beside the LMDB
 * cache (downloaded attachments, rendered transcripts).  Files there are
 * written under a "tmp-" name and renamed when complete, so what a crash
 * leaves half-written is exactly the "tmp-" files.
 */
#ifndef TEAMSFS_SPOOL_H
#define TEAMSFS_SPOOL_H

/*
 * Creates directory @dir (mode 0700) if missing and removes the "tmp-"
 * files a crash left in it.  @what names the directory in the one log line
 * written when it cannot be created.  Returns 0 or -errno.
 */
int spool_open(const char *dir, const char *what);

#endif
