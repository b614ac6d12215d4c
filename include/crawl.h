/*
 * crawl.h - filling the cache from Graph, one scope at a time, and keeping
 * it fresh.
 *
 * A scope is a user's chats (kind 'u') or a team's channels (kind 't'):
 * everything one getAllMessages walk returns.  Each page is stored in one
 * cache write together with the link to the next page, so a crawl that
 * stops half-way (a crash, a kill, a lost network) resumes there; only a
 * walk that reached its last page marks the scope complete.  The users and
 * teams lists are crawled the same way.
 *
 * Crawls run as background jobs (jobs.h), one per scope: callers asking
 * for a scope being crawled wait for that crawl, other scopes proceed in
 * parallel, and a caller that gives up waiting leaves the crawl running.
 *
 * A complete scope older than the refresh interval is served as it is
 * while a refresh runs in the background: a walk with
 * $filter=lastModifiedDateTime gt (newest stored - overlap).  Everything it
 * changes is reported through the change callback, so the kernel's caches
 * can be invalidated.
 */
#ifndef TEAMSFS_CRAWL_H
#define TEAMSFS_CRAWL_H

#include <stdint.h>

#include "jobs.h"

struct cache;
struct graph;
struct crawler;

struct crawl_config {
	unsigned top;	    /* $top asked for, 0 for Graph's default */
	const char *model;  /* "A", "B" or NULL */
	int offline;	    /* never touch the network */
	int64_t refresh_ns; /* refresh what is older than this; 0: never */
	int64_t overlap_ns; /* how far back a refresh looks again */
};

/*
 * Told of what a refresh changed, after it is stored: a message (@msg set),
 * a container that is new or has new messages (@cont set, @msg NULL), a
 * scope (@owner set, @cont NULL) or a list (@owner NULL).
 */
typedef void (*crawl_change_fn)(void *ctx, char kind, const char *owner,
				const char *cont, const char *msg);

/* Creates a crawler over @c and @g (neither owned).  0 or -errno. */
int crawler_new(struct cache *c, struct graph *g,
		const struct crawl_config *cfg, struct crawler **out);

/* Sets the function told of changes (before any crawl starts). */
void crawler_on_change(struct crawler *cr, crawl_change_fn fn, void *ctx);

/* Waits for running crawls to stop (they stop soon), then frees @cr. */
void crawler_free(struct crawler *cr);

/*
 * Makes sure scope @owner (the file name of the user or team) of @kind,
 * whose Graph id is @id, is complete in the cache, crawling it if needed,
 * and starts a background refresh when it is due.  Waits until the scope is
 * complete or @cancel(@arg) says to stop (then -EINTR; the crawl goes on).
 * Returns 0, or the negative errno of the failed crawl (-EACCES when Graph
 * refused access, -EIO otherwise).
 */
int crawl_scope(struct crawler *cr, char kind, const char *owner,
		const char *id, jobs_cancel_fn cancel, void *arg);

/*
 * Makes sure the list of users (@kind 'u') or teams ('t') is in the cache,
 * fetching it if needed; waits like crawl_scope().  Returns 0 or -errno.
 */
int crawl_list(struct crawler *cr, char kind, jobs_cancel_fn cancel, void *arg);

/*
 * Refreshes scope @owner of @kind (or crawls it, if it never completed)
 * now, and waits for the result like crawl_scope().
 */
int crawl_refresh_scope(struct crawler *cr, char kind, const char *owner,
			const char *id, jobs_cancel_fn cancel, void *arg);

/* Refreshes list @kind now and waits for the result. */
int crawl_refresh_list(struct crawler *cr, char kind, jobs_cancel_fn cancel,
		       void *arg);

/* Returns how many messages crawls have stored so far (for progress). */
uint64_t crawler_stored(struct crawler *cr);

/* Makes every scope and list crawled so far due for refresh. */
void crawl_mark_stale(struct crawler *cr);

#endif
