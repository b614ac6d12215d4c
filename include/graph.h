/*
 * graph.h - the Microsoft Graph client: authenticated GETs with retries,
 * throttling and Graph's error shape understood, and paging that follows
 * @odata.nextLink exactly as given.
 *
 * The bearer token is only ever sent to the origin (scheme, host, port) of
 * the configured Graph URL: a next link that names another origin stops the
 * walk, and redirects are never followed.
 */
#ifndef TEAMSFS_GRAPH_H
#define TEAMSFS_GRAPH_H

#include <json-c/json.h>

struct graph;
struct token_source;

/*
 * Creates a client for @graph_url (e.g. "https://graph.microsoft.com/v1.0")
 * that retries transient failures @retries times and authenticates with
 * @tokens (not owned).  Returns 0 or a negative errno.
 */
int graph_new(const char *graph_url, unsigned retries,
	      struct token_source *tokens, struct graph **out);

void graph_free(struct graph *g);

/* Returns the Graph URL the client was made for, without a trailing '/'. */
const char *graph_base(const struct graph *g);

/*
 * Called for each page of a walk with the parsed page (its "value" is an
 * array) and the next link, or NULL on the last page.  Returns 0 to go on,
 * or a negative errno to stop the walk with that error.
 */
typedef int (*graph_page_fn)(void *ctx, struct json_object *page,
			     const char *next);

/*
 * GETs @url and every page after it, calling @fn for each.  @what names the
 * walk in log lines ("chats of user X").  A next link that repeats an
 * earlier one ends the walk with a warning.  Returns 0 when the last page
 * was handled; otherwise logs one line and returns -EACCES (Graph answered
 * 403), -EIO, or @fn's error.
 */
int graph_walk(struct graph *g, const char *url, const char *what,
	       graph_page_fn fn, void *ctx);

#endif
