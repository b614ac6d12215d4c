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

#include <stdint.h>

struct page;

struct graph_config {
	unsigned retries;   /* tries after the first, for transient failures */
	unsigned max_rps;   /* requests started per second at most; 0: any */
	unsigned max_conns; /* requests in flight at once at most */
	unsigned stall_s;   /* give up a request silent this long (seconds) */
};

/* What the client has done so far, for progress displays. */
struct graph_stats {
	uint64_t requests;  /* HTTP requests sent */
	uint64_t throttled; /* 429 or 503 answers */
	uint64_t waited_ms; /* time spent waiting as Retry-After asked */
};

/*
 * Creates a client for @graph_url (e.g. "https://graph.microsoft.com/v1.0")
 * that authenticates with @tokens (not owned).  Returns 0 or -errno.
 */
int graph_new(const char *graph_url, const struct graph_config *cfg,
	      struct token_source *tokens, struct graph **out);

void graph_free(struct graph *g);

/*
 * Makes requests in progress, waiting or to come fail soon with
 * -ECANCELED (at unmount).
 */
void graph_cancel(struct graph *g);

/* Copies the client's counters into @st. */
void graph_get_stats(struct graph *g, struct graph_stats *st);

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
 * Called for each page of a walk of messages with the page read for storing
 * (page.h), which the callee owns and frees with page_free(), and the next
 * link (valid until the next call), or NULL on the last page.  Returns 0 to
 * go on, or a negative errno to stop the walk with that error.
 */
typedef int (*graph_messages_fn)(void *ctx, struct page *pg, const char *next);

/*
 * GETs @url and every page after it, calling @fn for each.  @what names the
 * walk in log lines ("chats of user X").  A next link that repeats an
 * earlier one ends the walk with a warning.  Every request waits its turn
 * under max_rps and max_conns; 429 and 503 are retried after Retry-After,
 * other 5xx, broken connections and cut or garbled pages with exponential
 * backoff and jitter, and a refused token is renewed once.  Returns 0 when
 * the last page was handled; otherwise logs one line and returns -EACCES
 * (Graph answered 403), -EIO, -ECANCELED, or @fn's error.
 */
int graph_walk(struct graph *g, const char *url, const char *what,
	       graph_page_fn fn, void *ctx);

/* The same for pages of messages (getAllMessages), read by page.h. */
int graph_walk_messages(struct graph *g, const char *url, const char *what,
			graph_messages_fn fn, void *ctx);

/*
 * GETs the JSON object at @path (relative to the Graph URL) with retries.
 * Returns 0 with it in *@out, or -errno after logging one line: -EACCES
 * (403), -ENOENT (404), -EIO.
 */
int graph_get_object(struct graph *g, const char *path, const char *what,
		     struct json_object **out);

/*
 * Asks for the size and content type of the bytes at @path with HEAD,
 * without downloading them.  Returns 0, -ENOTSUP when the server does not
 * answer HEAD with a length (the caller may download instead), or -errno
 * like graph_get_object().
 */
int graph_head(struct graph *g, const char *path, const char *what,
	       long long *size, char *type, size_t type_len);

/* Where downloaded bytes go. */
struct graph_sink {
	/* Takes bytes in order; @restart: drop what came before (the server
	 * sent the whole file again).  Returns nonzero to stop. */
	int (*write)(void *ctx, int restart, const char *data, size_t len);
	/* How many bytes are held already: a retry asks for the rest. */
	long long (*offset)(void *ctx);
	void *ctx;
	char content_type[128]; /* set by graph_download from the answer */
};

/*
 * Downloads the bytes at @path (relative to the Graph URL) into @sink.
 * Graph may answer with the bytes or with a redirect to a download host;
 * that host is asked without the token.  Retries resume where the bytes
 * stopped.  Returns 0, or -errno like graph_get_object().
 */
int graph_download(struct graph *g, const char *path, const char *what,
		   struct graph_sink *sink);

#endif
