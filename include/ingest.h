/*
 * ingest.h - what the pages of one scope's getAllMessages become in the
 * cache: every message (stored once, under its container), its attachment
 * files, the scope's counts and the link to resume from.
 *
 * Pages that arrive quickly are stored together, in one write: a page is
 * committed at once when the last commit is INGEST_COMMIT_NS old, else with
 * the next ones, INGEST_COMMIT_PAGES at most, and always with the last page
 * and by ingest_flush().  A slow walk (latency, throttling) thus commits
 * every page; a fast one about twenty times a second.  Each write holds
 * whole pages and the next link after the last of them, so a teamsfs killed
 * at any point resumes from a link that matches what was committed.
 */
#ifndef TEAMSFS_INGEST_H
#define TEAMSFS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "page.h"

#define INGEST_COMMIT_NS (50LL * 1000000)
#define INGEST_COMMIT_PAGES 32

/* Told of a message or container a refresh changed, once committed. */
typedef void (*ingest_change_fn)(void *ctx, const char *cont, const char *msg);

/* A change waiting to be reported once its page is committed. */
struct ingest_change {
	char cont[NAME_MAX_BYTES + 1];
	char msg[NAME_MAX_BYTES + 1]; /* "" for the container itself */
};

/* One scope's pages on their way into the cache. */
struct ingest {
	struct cache *cache;
	char kind; /* 'u' chats of a user, 't' channels of a team */
	const char *owner;
	uint64_t sh;
	int refresh; /* report changes; do not store resume links */
	ingest_change_fn changed;
	void *changed_ctx;
	uint64_t *progress; /* raised atomically per message stored, or NULL */
	uint64_t stored;    /* messages new to the scope or changed */
	unsigned skipped;   /* elements that were not message objects */
	struct ingest_change *changes;
	size_t nchanges, cap;
	struct {
		struct page *pg;
		char *next;
	} pend[INGEST_COMMIT_PAGES];
	size_t npend;
	int64_t committed_ns; /* when pages were last stored */
};

/*
 * Prepares @in for pages of scope @owner of @kind in @c; with @refresh,
 * changes are reported to @changed (may be NULL) and no resume link is
 * stored.
 */
void ingest_init(struct ingest *in, struct cache *c, char kind,
		 const char *owner, int refresh, ingest_change_fn changed,
		 void *ctx);

/*
 * Takes page @pg (owned from now on) and the link after it, @next (NULL on
 * the last page); stores it now or with the next ones.  Returns 0 or a
 * negative errno (the pages not yet committed are then dropped).
 */
int ingest_page(struct ingest *in, struct page *pg, const char *next);

/* Stores the pages taken and not yet committed.  0 or a negative errno. */
int ingest_flush(struct ingest *in);

/* Frees what @in holds; pages not flushed are dropped. */
void ingest_done(struct ingest *in);

#endif
