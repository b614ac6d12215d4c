/* graph.c - authenticated Graph requests, retries and paging. */
#include "graph.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "http.h"
#include "log.h"
#include "page.h"
#include "token.h"

#define PAGE_MAX (64u << 20)
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 30000
#define RETRY_AFTER_MAX_S 300

struct graph {
	char *base;
	struct graph_config cfg;
	struct token_source *tokens;
	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t freed;
	int64_t next_slot_ns; /* the request budget: next free start time */
	unsigned active;      /* connections in use */
	volatile int cancelled;
	struct graph_stats stats;
};

int graph_new(const char *graph_url, const struct graph_config *cfg,
	      struct token_source *tokens, struct graph **out)
{
	struct graph *g = calloc(1, sizeof(*g));
	size_t n;

	if (!g || !(g->base = strdup(graph_url))) {
		free(g);
		return -ENOMEM;
	}
	n = strlen(g->base);
	while (n && g->base[n - 1] == '/')
		g->base[--n] = '\0';
	g->cfg = *cfg;
	if (!g->cfg.max_conns)
		g->cfg.max_conns = 1;
	g->tokens = tokens;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->freed, NULL);
	*out = g;
	return 0;
}

void graph_free(struct graph *g)
{
	if (!g)
		return;
	pthread_cond_destroy(&g->freed);
	pthread_mutex_destroy(&g->lock);
	free(g->base);
	free(g);
}

const char *graph_base(const struct graph *g)
{
	return g->base;
}

void graph_cancel(struct graph *g)
{
	pthread_mutex_lock(&g->lock);
	g->cancelled = 1;
	pthread_cond_broadcast(&g->freed);
	pthread_mutex_unlock(&g->lock);
}

void graph_get_stats(struct graph *g, struct graph_stats *st)
{
	pthread_mutex_lock(&g->lock);
	*st = g->stats;
	pthread_mutex_unlock(&g->lock);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps @ms, in slices, unless the client is cancelled: then -ECANCELED */
static int sleep_ms(struct graph *g, long ms)
{
	int64_t until = mono_ns() + (int64_t)ms * 1000000;

	for (;;) {
		int64_t left = until - mono_ns();
		struct timespec ts;

		if (g->cancelled)
			return -ECANCELED;
		if (left <= 0)
			return 0;
		if (left > 100000000)
			left = 100000000;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left;
		nanosleep(&ts, NULL);
	}
}

/*
 * Waits for a start slot under the request budget (max_rps) and a free
 * connection (max_conns).  Returns 0, or -ECANCELED.
 */
static int acquire(struct graph *g)
{
	int64_t slot = 0, now;
	int rc;

	pthread_mutex_lock(&g->lock);
	while (g->active >= g->cfg.max_conns && !g->cancelled)
		pthread_cond_wait(&g->freed, &g->lock);
	if (g->cancelled) {
		pthread_mutex_unlock(&g->lock);
		return -ECANCELED;
	}
	g->active++;
	if (g->cfg.max_rps) {
		now = mono_ns();
		slot = g->next_slot_ns > now ? g->next_slot_ns : now;
		g->next_slot_ns = slot + 1000000000LL / g->cfg.max_rps;
		slot -= now;
	}
	g->stats.requests++;
	pthread_mutex_unlock(&g->lock);
	rc = slot > 0 ? sleep_ms(g, (long)(slot / 1000000)) : 0;
	if (rc) {
		pthread_mutex_lock(&g->lock);
		g->active--;
		pthread_cond_signal(&g->freed);
		pthread_mutex_unlock(&g->lock);
	}
	return rc;
}

static void release(struct graph *g)
{
	pthread_mutex_lock(&g->lock);
	g->active--;
	pthread_cond_signal(&g->freed);
	pthread_mutex_unlock(&g->lock);
}

static void count_wait(struct graph *g, long ms)
{
	pthread_mutex_lock(&g->lock);
	g->stats.throttled++;
	g->stats.waited_ms += (uint64_t)ms;
	pthread_mutex_unlock(&g->lock);
}

/* A curl handle with the client's time limits. */
static CURL *new_handle(struct graph *g)
{
	CURL *h = http_handle_new();
	long stall = g->cfg.stall_s ? (long)g->cfg.stall_s : 30;

	if (h) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
				 stall < 10 ? stall : 10L);
	}
	return h;
}

/* Exponential backoff with full jitter for retry number @attempt (0..). */
static long backoff_ms(unsigned attempt)
{
	long cap = BACKOFF_FIRST_MS;

	for (unsigned i = 0; i < attempt && cap < BACKOFF_MAX_MS; i++)
		cap *= 2;
	if (cap > BACKOFF_MAX_MS)
		cap = BACKOFF_MAX_MS;
	return cap / 2 + random() % (cap / 2 + 1);
}

/* The outcome of one attempt, for the caller's log line. */
struct failure {
	long status;
	char code[96];
	char message[400];
};

/* Reads Graph's {"error": {"code", "message"}} into @f. */
static void parse_error(const struct http_response *rs, struct failure *f)
{
	struct json_object *o = json_tokener_parse(rs->body), *e, *v;

	f->status = rs->status;
	snprintf(f->code, sizeof(f->code), "no error code");
	snprintf(f->message, sizeof(f->message), "no message");
	if (o && json_object_object_get_ex(o, "error", &e) &&
	    json_object_is_type(e, json_type_object)) {
		if (json_object_object_get_ex(e, "code", &v))
			snprintf(f->code, sizeof(f->code), "%s",
				 json_object_get_string(v));
		if (json_object_object_get_ex(e, "message", &v))
			snprintf(f->message, sizeof(f->message), "%s",
				 json_object_get_string(v));
	}
	json_object_put(o);
}

/*
 * How a request's answer is used.  @accept sees every answer below 400,
 * redirects included (they are never followed), and returns 0 to take it,
 * -EAGAIN to try again as after a transient failure (saying why in
 * f->message), or another negative errno to fail.
 */
struct use {
	int authorize; /* send the bearer token (only ever to Graph) */
	int (*accept)(void *ctx, struct http_response *rs, struct failure *f);
	void *ctx;
	http_sink_fn sink;		   /* stream 2xx bodies here */
	long long (*resume_at)(void *ctx); /* Range start for a retry */
	int head; /* ask with HEAD; other 4xx than 401/403/404:
		   * -ENOTSUP without a log line */
};

/*
 * Sends GET @url with @h, retrying what is transient, until @u accepts an
 * answer.  Returns 0, or a negative errno after logging one line (-EACCES
 * for 403, -ENOENT for 404, -ECANCELED without a line).
 */
static int request(struct graph *g, CURL *h, const char *url, const char *what,
		   const struct use *u)
{
	char auth[16384 + 32] = "", *hdr = NULL;
	struct failure f = {0};
	int renewed = 0;

	for (unsigned attempt = 0;; attempt++) {
		struct curl_slist *headers = NULL;
		struct http_response rs = {0};
		struct http_request rq = {.url = url,
					  .max_body = PAGE_MAX,
					  .sink = u->sink,
					  .sink_ctx = u->ctx,
					  .cancel = &g->cancelled,
					  .head = u->head};
		long wait_ms = -1;
		int rc;

		if (u->authorize) {
			rc = token_get(g->tokens, renewed == 1, auth,
				       sizeof(auth));
			if (renewed == 1)
				renewed = 2;
			if (rc == -EACCES)
				return -EACCES;
			if (rc) {
				snprintf(f.message, sizeof(f.message),
					 "no access token: the identity "
					 "platform could not be reached");
				f.status = 0;
				goto transient;
			}
			if (asprintf(&hdr, "Authorization: %s", auth) < 0)
				return -ENOMEM;
			headers = curl_slist_append(headers, hdr);
			headers = curl_slist_append(
				headers,
				"Prefer: include-unknown-enum-members");
		}
		headers =
			curl_slist_append(headers, "Accept: application/json");
		rq.headers = headers;
		if (u->resume_at)
			rq.range_from = u->resume_at(u->ctx);
		rc = acquire(g);
		if (!rc) {
			rc = http_exchange(h, &rq, &rs);
			release(g);
		}
		curl_slist_free_all(headers);
		if (hdr) {
			explicit_bzero(hdr, strlen(hdr));
			free(hdr);
			hdr = NULL;
		}
		if (rc == -ECANCELED || g->cancelled) {
			http_response_free(&rs);
			return -ECANCELED;
		}
		if (rc) {
			f.status = 0;
			snprintf(f.message, sizeof(f.message), "%s", rs.error);
			http_response_free(&rs);
			goto transient;
		}
		if (rs.status < 400) {
			f.status = rs.status;
			rc = u->accept(u->ctx, &rs, &f);
			http_response_free(&rs);
			if (rc != -EAGAIN)
				return rc;
			goto transient;
		}
		parse_error(&rs, &f);
		wait_ms = rs.retry_after >= 0
				  ? (rs.retry_after > RETRY_AFTER_MAX_S
					     ? RETRY_AFTER_MAX_S
					     : rs.retry_after) *
					    1000L
				  : -1;
		http_response_free(&rs);
		if (f.status == 401 && u->authorize && !renewed) {
			renewed = 1;
			log_info("%s: token refused, asking for a new one",
				 what);
			attempt--;
			continue;
		}
		if (u->head && f.status >= 400 && f.status < 500 &&
		    f.status != 401 && f.status != 403 && f.status != 404 &&
		    f.status != 429)
			return -ENOTSUP;
		if (f.status != 429 && f.status < 500)
			break;
		if (f.status == 429 || f.status == 503)
			count_wait(g, wait_ms > 0 ? wait_ms : 0);
	transient:
		if (attempt >= g->cfg.retries)
			break;
		if (wait_ms < 0)
			wait_ms = backoff_ms(attempt);
		if (f.status)
			log_info("%s: HTTP %ld, retrying in %ld ms", what,
				 f.status, wait_ms);
		else
			log_info("%s: %s, retrying in %ld ms", what, f.message,
				 wait_ms);
		if (sleep_ms(g, wait_ms))
			return -ECANCELED;
	}
	if (f.status)
		log_error("%s: Graph answered HTTP %ld, %s: %s", what, f.status,
			  f.code, f.message);
	else
		log_error("%s: Graph could not be reached: %s", what,
			  f.message);
	return f.status == 403 ? -EACCES : f.status == 404 ? -ENOENT : -EIO;
}

/* Takes a 200 answer that is a whole Graph page. */
static int accept_page(void *ctx, struct http_response *rs, struct failure *f)
{
	struct json_object **out = ctx;

	if (rs->status == 200 && (*out = page_parse(rs->body, rs->len)))
		return 0;
	snprintf(f->message, sizeof(f->message),
		 "the answer (HTTP %ld) is not a valid Graph page", rs->status);
	return -EAGAIN;
}

/* Takes a 200 answer that is a whole Graph page of messages. */
static int accept_messages(void *ctx, struct http_response *rs,
			   struct failure *f)
{
	struct page **out = ctx;
	int rc = rs->status == 200
			 ? page_read_messages(rs->body, rs->len, PAGE_ANY, out)
			 : -EINVAL;

	if (!rc)
		return 0;
	if (rc == -ENOMEM)
		return rc;
	snprintf(f->message, sizeof(f->message),
		 "the answer (HTTP %ld) is not a valid Graph page", rs->status);
	return -EAGAIN;
}

/* One page of a walk, as a tree or read for storing. */
struct walk_page {
	struct json_object *tree;
	struct page *msgs;
};

/* GETs one page of a walk; returns 0 with it in *@out, or -errno. */
static int get_page(struct graph *g, CURL *h, const char *url, const char *what,
		    int messages, struct walk_page *out)
{
	struct use u = {1, accept_page, &out->tree, NULL, NULL, 0};
	int rc;

	if (messages) {
		u.accept = accept_messages;
		u.ctx = &out->msgs;
	}
	rc = request(g, h, url, what, &u);
	return rc == -ENOENT ? -EIO : rc;
}

/* Takes a 200 answer that is a JSON object. */
static int accept_object(void *ctx, struct http_response *rs, struct failure *f)
{
	struct json_object **out = ctx;

	*out = rs->status == 200 ? json_tokener_parse(rs->body) : NULL;
	if (*out && json_object_is_type(*out, json_type_object))
		return 0;
	json_object_put(*out);
	*out = NULL;
	snprintf(f->message, sizeof(f->message),
		 "the answer (HTTP %ld) is not a JSON object", rs->status);
	return -EAGAIN;
}

/* Joins the Graph base and @path, unless @path is a whole URL already. */
static char *graph_url(struct graph *g, const char *path)
{
	char *url;

	if (strstr(path, "://"))
		return strdup(path);
	return asprintf(&url, "%s/%s", g->base, path) < 0 ? NULL : url;
}

int graph_get_object(struct graph *g, const char *path, const char *what,
		     struct json_object **out)
{
	struct use u = {1, accept_object, out, NULL, NULL, 0};
	char *url = graph_url(g, path);
	CURL *h = new_handle(g);
	int rc = -ENOMEM;

	*out = NULL;
	if (url && h)
		rc = request(g, h, url, what, &u);
	if (h)
		curl_easy_cleanup(h);
	free(url);
	return rc;
}

/* A download in progress: where the bytes go, and where they come from. */
struct fetch {
	struct graph_sink *sink;
	char *location;
};

/* Keeps the content type of the answer that carried the bytes. */
static void note_type(struct fetch *d, const struct http_response *rs)
{
	if (rs->content_type)
		snprintf(d->sink->content_type, sizeof(d->sink->content_type),
			 "%s", rs->content_type);
}

static int accept_graph_answer(void *ctx, struct http_response *rs,
			       struct failure *f)
{
	struct fetch *d = ctx;

	if (rs->status >= 300 && rs->status < 400 && rs->location) {
		free(d->location);
		d->location = strdup(rs->location);
		return d->location ? 0 : -ENOMEM;
	}
	if (rs->status == 200 || rs->status == 206) {
		note_type(d, rs);
		return 0;
	}
	snprintf(f->message, sizeof(f->message), "unexpected answer HTTP %ld",
		 rs->status);
	return -EAGAIN;
}

static int accept_download(void *ctx, struct http_response *rs,
			   struct failure *f)
{
	if (rs->status == 200 || rs->status == 206) {
		note_type(ctx, rs);
		return 0;
	}
	snprintf(f->message, sizeof(f->message),
		 "the download host answered HTTP %ld", rs->status);
	return rs->status >= 300 && rs->status < 400 ? -EIO : -EAGAIN;
}

static int sink_bytes(void *ctx, long status, int first, const char *data,
		      size_t len)
{
	const struct fetch *d = ctx;

	return d->sink->write(d->sink->ctx, status == 206 ? 0 : first, data,
			      len);
}

static long long sink_offset(void *ctx)
{
	const struct fetch *d = ctx;

	return d->sink->offset(d->sink->ctx);
}

int graph_download(struct graph *g, const char *path, const char *what,
		   struct graph_sink *sink)
{
	struct fetch d = {sink, NULL};
	struct use graph_use = {1,	    accept_graph_answer, &d,
				sink_bytes, sink_offset,	 0};
	struct use host_use = {0,	   accept_download, &d,
			       sink_bytes, sink_offset,	    0};
	char *url = graph_url(g, path), why[256];
	CURL *h = new_handle(g);
	int rc = -ENOMEM;

	if (!url || !h)
		goto out;
	rc = request(g, h, url, what, &graph_use);
	if (rc || !d.location)
		goto out;
	/* The download host gets no token: it is not Graph. */
	if (http_url_allowed(d.location, why, sizeof(why))) {
		log_error("%s: Graph redirected to a URL teamsfs will not "
			  "use: %s",
			  what, why);
		rc = -EIO;
		goto out;
	}
	rc = request(g, h, d.location, what, &host_use);
out:
	free(d.location);
	free(url);
	if (h)
		curl_easy_cleanup(h);
	return rc;
}

/* Walks pages as trees (@fn) or read for storing (@mfn). */
static int walk(struct graph *g, const char *url, const char *what,
		graph_page_fn fn, graph_messages_fn mfn, void *ctx)
{
	CURL *h = new_handle(g);
	char *cur = strdup(url);
	uint64_t *seen = NULL;
	size_t nseen = 0, cap = 0;
	int rc = -ENOMEM;

	if (!h || !cur)
		goto out;
	for (;;) {
		struct walk_page pg = {NULL, NULL};
		const char *next = NULL;

		rc = get_page(g, h, cur, what, mfn != NULL, &pg);
		if (rc)
			break;
		next = pg.tree ? page_next_link(pg.tree) : pg.msgs->next;
		if (next && !http_same_origin(next, g->base)) {
			log_error("%s: Graph's next link leads away from %s; "
				  "refusing to send the token there",
				  what, g->base);
			rc = -EIO;
			goto drop;
		}
		if (next) {
			uint64_t hv = hash_bytes(next, strlen(next));

			for (size_t i = 0; i < nseen; i++)
				if (seen[i] == hv) {
					log_warning("%s: Graph repeated an "
						    "earlier next link; "
						    "treating the list as "
						    "complete",
						    what);
					next = NULL;
					break;
				}
			if (next && nseen == cap) {
				uint64_t *p;

				cap = cap ? cap * 2 : 64;
				p = realloc(seen, cap * sizeof(*seen));
				if (!p) {
					rc = -ENOMEM;
					goto drop;
				}
				seen = p;
			}
			if (next)
				seen[nseen++] = hv;
		}
		if (next) {
			char *n = strdup(next);

			free(cur);
			cur = n;
			if (!cur) {
				rc = -ENOMEM;
				goto drop;
			}
		}
		if (pg.tree) {
			rc = fn(ctx, pg.tree, next ? cur : NULL);
			json_object_put(pg.tree);
		} else {
			/* The page is the callback's from here on. */
			rc = mfn(ctx, pg.msgs, next ? cur : NULL);
		}
		if (rc || !next)
			break;
		continue;
	drop:
		json_object_put(pg.tree);
		page_free(pg.msgs);
		break;
	}
out:
	free(seen);
	free(cur);
	if (h)
		curl_easy_cleanup(h);
	return rc;
}

int graph_walk(struct graph *g, const char *url, const char *what,
	       graph_page_fn fn, void *ctx)
{
	return walk(g, url, what, fn, NULL, ctx);
}

int graph_walk_messages(struct graph *g, const char *url, const char *what,
			graph_messages_fn fn, void *ctx)
{
	return walk(g, url, what, NULL, fn, ctx);
}

/* What a HEAD answer says of the bytes. */
struct head_out {
	long long size;
	char *type;
	size_t type_len;
};

static int accept_head(void *ctx, struct http_response *rs, struct failure *f)
{
	struct head_out *o = ctx;

	(void)f;
	if (rs->status != 200 || rs->content_length < 0)
		return -ENOTSUP;
	o->size = rs->content_length;
	if (rs->content_type)
		snprintf(o->type, o->type_len, "%s", rs->content_type);
	return 0;
}

int graph_head(struct graph *g, const char *path, const char *what,
	       long long *size, char *type, size_t type_len)
{
	struct head_out o = {-1, type, type_len};
	struct use u = {1, accept_head, &o, NULL, NULL, 1};
	char *url = graph_url(g, path);
	CURL *h = new_handle(g);
	int rc = -ENOMEM;

	if (type_len)
		type[0] = '\0';
	if (url && h)
		rc = request(g, h, url, what, &u);
	if (!rc)
		*size = o.size;
	if (h)
		curl_easy_cleanup(h);
	free(url);
	return rc;
}
