/*
 * crawl.h - filling the cache from Graph, one scope at a time.
 *
 * A scope is a user's chats (kind 'u') or a team's channels (kind 't'):
 * everything one getAllMessages walk returns.  Each page is stored in one
 * cache write together with the link to the next page, so a crawl that
 * stops half-way resumes there; only a walk that reached its last page
 * marks the scope complete.  The users and teams lists are crawled the
 * same way.  Crawls are single-flight: callers asking for a scope that is
 * being crawled wait for that crawl instead of starting another, while
 * other scopes proceed in parallel.
 */
#ifndef TEAMSFS_CRAWL_H
#define TEAMSFS_CRAWL_H

struct cache;
struct graph;
struct crawler;

struct crawl_config {
	unsigned top;	   /* $top asked for, 0 for Graph's default */
	const char *model; /* "A", "B" or NULL */
	int offline;	   /* never touch the network */
};

/* Creates a crawler over @c and @g (neither owned).  0 or -errno. */
int crawler_new(struct cache *c, struct graph *g,
		const struct crawl_config *cfg, struct crawler **out);

void crawler_free(struct crawler *cr);

/*
 * Makes sure scope @owner (file name of the user or team) of @kind, whose
 * Graph id is @id, is complete in the cache, crawling it if needed.
 * Returns 0, or the negative errno of the failed crawl (-EACCES when
 * Graph refused access, -EIO otherwise).
 */
int crawl_scope(struct crawler *cr, char kind, const char *owner,
		const char *id);

/*
 * Makes sure the list of users (@kind 'u') or teams ('t') is complete in
 * the cache, fetching it from Graph if needed.  Returns 0 or -errno.
 */
int crawl_list(struct crawler *cr, char kind);

#endif
