/*
 * core.h - what every teamsfs command starts from: options, the cache
 * directory and its LMDB cache, the sign-in, the Graph client and the
 * crawler.  Start-up fails, with one line and a non-zero exit, on anything
 * a person must fix: bad options, an unusable cache directory, refused
 * credentials.  A Graph that cannot be reached is not such a thing: the
 * cache is served.
 */
#ifndef TEAMSFS_CORE_H
#define TEAMSFS_CORE_H

#include "opts.h"

struct cache;
struct crawler;
struct graph;
struct token_source;

struct core {
	struct opts o;
	struct cache *cache;
	struct token_source *tokens;
	struct graph *graph;
	struct crawler *crawler;
	char *scope; /* the token's scope */
};

/*
 * Parses @argv for @mode and starts everything above.  Returns 0, 1 when
 * --help or --version was answered, or -1 after a one-line error.
 */
int core_start(struct core *c, int argc, char **argv, enum opts_mode mode);

/* Stops the crawler (waiting for its jobs) and frees everything. */
void core_stop(struct core *c);

#endif
