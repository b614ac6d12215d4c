/*
 * sync.h - "teamsfs sync" and "teamsfs status": the cache without a mount.
 *
 * sync fills the cache for every user and team (or those named with
 * users= and teams=) ahead of a backup window: several scopes at once
 * within the request budget, a progress line on a terminal and plain
 * periodic log lines otherwise, a summary of what failed and why.  Scopes
 * already complete are refreshed; interrupted crawls resume.
 *
 * status prints, from the cache alone, each scope's messages, last complete
 * crawl and newest message, and the cache's size.
 */
#ifndef TEAMSFS_SYNC_H
#define TEAMSFS_SYNC_H

struct cache;
struct crawler;
struct graph;
struct opts;

/* Runs a sync; returns the exit status (1 when any scope failed). */
int sync_run(struct cache *c, struct crawler *cr, struct graph *g,
	     const struct opts *o);

/* Prints the status; returns the exit status. */
int status_run(struct cache *c, const struct opts *o);

#endif
