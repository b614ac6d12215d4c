/*
 * names.h - turning Graph ids into file names.
 *
 * An id is used as the name unchanged, except that '%' becomes "%25", '/'
 * becomes "%2F" and a NUL byte "%00"; the ids "." and ".." become "%2E" and
 * "%2E%2E" and the empty id "%".  Escaped names therefore never contain a
 * '%' that is not followed by two hex digits, so names beginning "%n" (such
 * as "%noid-...") are free for teamsfs's own use.  A name that would exceed
 * NAME_MAX_BYTES keeps its first bytes and ends in '~' and 16 hex digits of
 * hash_bytes() of the whole id, so it is stable and, in practice, unique.
 */
#ifndef TEAMSFS_NAMES_H
#define TEAMSFS_NAMES_H

#include <stddef.h>

#define NAME_MAX_BYTES 255

/*
 * Writes into @out (NAME_MAX_BYTES + 1 bytes) the file name for the id of
 * @len bytes at @id followed by @suffix (may be ""; at most 32 bytes).
 * Returns the length of the name written.
 */
size_t name_from_id(const char *id, size_t len, const char *suffix, char *out);

/*
 * Returns nonzero if @name (NUL-terminated) could have been produced by
 * name_from_id() with an empty suffix or is one of teamsfs's own "%n..."
 * names; lookups of anything else answer ENOENT without touching the cache.
 */
int name_is_plausible(const char *name);

#endif
