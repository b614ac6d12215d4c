/*
 * byname.h - readable names beside the ids: the /by-name tree.
 *
 *   /by-name/users/<userPrincipalName>/<chat name>  ->
 * ../../../users/<id>/chats/<chat id> /by-name/teams/<team name>/<channel name>
 * -> ../../../teams/<id>/channels/<channel id>
 *
 * A chat is named by its topic, or for a 1:1 chat by the other member's
 * name, or for an unnamed group by its members' names.  Names are escaped
 * like ids; when two entries would share a name, all but the one with the
 * smallest id get "~" and 8 hex digits of a hash of their id, so names stay
 * stable.  The names of a user's chats (GET /users/{id}/chats?$expand=
 * members) or a team's channels (GET /teams/{id}/allChannels) are fetched
 * the first time that directory is listed and kept in the cache; no
 * message crawl is ever started from here.  Entries are symbolic links, so
 * tools that do not follow them see each message once.
 */
#ifndef TEAMSFS_BYNAME_H
#define TEAMSFS_BYNAME_H

#include "jobs.h"

struct cache;
struct crawler;
struct graph;
struct byname;

/* Called for each entry: its readable name and the file name it leads to */
typedef int (*byname_fn)(void *ctx, const char *readable, const char *target);

/* Creates the by-name view over the given parts (not owned). */
int byname_new(struct cache *c, struct crawler *cr, struct graph *g,
	       int offline, struct byname **out);

void byname_free(struct byname *b);

/*
 * Lists the users (@kind 'u') or teams with their readable names, fetching
 * the list from Graph if needed.  Returns 0 or -errno.
 */
int byname_owners(struct byname *b, char kind, byname_fn fn, void *ctx,
		  jobs_cancel_fn cancel, void *arg);

/* Finds the owner file name for @readable into @owner (256 bytes). */
int byname_owner(struct byname *b, char kind, const char *readable, char *owner,
		 jobs_cancel_fn cancel, void *arg);

/*
 * Lists the chats or channels of @owner (Graph id @id) with readable names,
 * fetching their names from Graph the first time.  Returns 0 or -errno.
 */
int byname_conts(struct byname *b, char kind, const char *owner, const char *id,
		 byname_fn fn, void *ctx, jobs_cancel_fn cancel, void *arg);

/* Finds the container file name for @readable into @cont (256 bytes). */
int byname_cont(struct byname *b, char kind, const char *owner, const char *id,
		const char *readable, char *cont, jobs_cancel_fn cancel,
		void *arg);

/*
 * Copies what Graph said of container @cont of @owner (chat type, topic and
 * members; or a channel's name and membership) as JSON text, fetching the
 * names first if needed.  Returns 0, -ENOENT or -errno.
 */
int byname_cont_meta(struct byname *b, char kind, const char *owner,
		     const char *id, const char *cont, char **meta,
		     jobs_cancel_fn cancel, void *arg);

#endif
