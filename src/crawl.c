/* crawl.c - resumable crawls and background refreshes of scopes and lists. */
#include "crawl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "attach.h"
#include "cache.h"
#include "graph.h"
#include "hash.h"
#include "ingest.h"
#include "log.h"
#include "names.h"
#include "page.h"
#include "render.h"

#define REFRESH_RETRY_NS (60LL * 1000000000)

/* A refresh that failed is not tried again before @until. */
struct holdoff {
	struct holdoff *next;
	int64_t since, until;
	char key[];
};

struct crawler {
	struct cache *cache;
	struct graph *graph;
	struct crawl_config cfg;
	char *model;
	struct jobs *jobs;
	crawl_change_fn changed;
	void *changed_ctx;
	pthread_mutex_t lock; /* guards the fields below */
	int64_t stale_before;
	struct holdoff *holdoffs;
	volatile int stopping;
	uint64_t stored; /* messages stored or replaced, for progress */
};

/* One crawl to run in the background. */
struct crawl_job {
	struct crawler *cr;
	char kind;
	int refresh;
	char *owner; /* NULL for a list */
	char *id;
	char key[NAME_MAX_BYTES + 4];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int crawler_new(struct cache *c, struct graph *g,
		const struct crawl_config *cfg, struct crawler **out)
{
	struct crawler *cr = calloc(1, sizeof(*cr));

	if (!cr)
		return -ENOMEM;
	cr->cache = c;
	cr->graph = g;
	cr->cfg = *cfg;
	if ((cfg->model && !(cr->model = strdup(cfg->model))) ||
	    jobs_new(&cr->jobs)) {
		free(cr->model);
		free(cr);
		return -ENOMEM;
	}
	cr->cfg.model = cr->model;
	pthread_mutex_init(&cr->lock, NULL);
	*out = cr;
	return 0;
}

void crawler_on_change(struct crawler *cr, crawl_change_fn fn, void *ctx)
{
	cr->changed = fn;
	cr->changed_ctx = ctx;
}

void crawler_free(struct crawler *cr)
{
	if (!cr)
		return;
	cr->stopping = 1;
	graph_cancel(cr->graph);
	jobs_free(cr->jobs);
	while (cr->holdoffs) {
		struct holdoff *h = cr->holdoffs;

		cr->holdoffs = h->next;
		free(h);
	}
	pthread_mutex_destroy(&cr->lock);
	free(cr->model);
	free(cr);
}

void crawl_mark_stale(struct crawler *cr)
{
	/* Async-signal-safe: SIGHUP calls this. */
	__atomic_store_n(&cr->stale_before, now_ns(), __ATOMIC_RELAXED);
}

/* Is something completed at @done_ns due for a refresh under @key? */
static int due(struct crawler *cr, const char *key, int64_t done_ns)
{
	int64_t now = now_ns();
	int64_t stale = __atomic_load_n(&cr->stale_before, __ATOMIC_RELAXED);
	int yes;

	if (cr->cfg.offline)
		return 0;
	pthread_mutex_lock(&cr->lock);
	yes = done_ns < stale ||
	      (cr->cfg.refresh_ns && now - done_ns >= cr->cfg.refresh_ns);
	/* A failed refresh waits a while, unless asked for again since. */
	for (struct holdoff *h = cr->holdoffs; yes && h; h = h->next)
		if (!strcmp(h->key, key) && now < h->until && h->since > stale)
			yes = 0;
	pthread_mutex_unlock(&cr->lock);
	return yes;
}

static void hold_off(struct crawler *cr, const char *key)
{
	struct holdoff *h = malloc(sizeof(*h) + strlen(key) + 1);

	if (!h)
		return;
	strcpy(h->key, key);
	h->since = now_ns();
	h->until = h->since + REFRESH_RETRY_NS;
	pthread_mutex_lock(&cr->lock);
	/* Drop expired notes so the list stays as short as the failures. */
	for (struct holdoff **pp = &cr->holdoffs; *pp;) {
		struct holdoff *old = *pp;

		if (old->until <= h->since || !strcmp(old->key, key)) {
			*pp = old->next;
			free(old);
		} else {
			pp = &old->next;
		}
	}
	h->next = cr->holdoffs;
	cr->holdoffs = h;
	pthread_mutex_unlock(&cr->lock);
}

/* Everything one scope walk carries from page to page. */
struct scope_walk {
	struct crawler *cr;
	char kind;
	const char *owner;
	int refresh;
	struct ingest in;
};

/* Passes a stored change of a refresh on to the crawler's listener. */
static void changed(void *ctx, const char *cont, const char *msg)
{
	struct scope_walk *w = ctx;

	if (w->cr->changed)
		w->cr->changed(w->cr->changed_ctx, w->kind, w->owner, cont,
			       msg);
}

/* Takes one page of a scope walk. */
static int store_page(void *ctx, struct page *pg, const char *next)
{
	struct scope_walk *w = ctx;

	if (w->cr->stopping) {
		page_free(pg);
		return -ECANCELED;
	}
	return ingest_page(&w->in, pg, next);
}

/* Updates the scope record: @complete marks a finished walk. */
static int close_scope(struct scope_walk *w, int complete)
{
	struct cache_txn *t;
	struct scope_rec r;
	int rc = cache_write_begin(w->cr->cache, &t);

	if (rc)
		return rc;
	rc = cache_scope_get_txn(t, w->kind, w->owner, &r);
	free(r.next_link);
	r.next_link = NULL;
	if (complete) {
		r.flags |= SCOPE_COMPLETE;
		r.completed_ns = now_ns();
	}
	if (!rc)
		rc = cache_scope_put(t, w->kind, w->owner, &r);
	if (rc) {
		cache_abort(t);
		return rc;
	}
	return cache_commit(t);
}

/* Writes "2024-05-01T10:20:30.1234567Z" for @ns into @buf. */
static void format_time(int64_t ns, char *buf, size_t n)
{
	time_t secs = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;

	if (frac < 0) {
		secs--;
		frac += 1000000000;
	}
	gmtime_r(&secs, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%07ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, frac / 100);
}

/* The first page's URL; with @since_ns >= 0, only messages changed since. */
static int first_url(struct crawler *cr, const struct crawl_job *j,
		     int64_t since_ns, char **url)
{
	char *esc = curl_easy_escape(NULL, j->id, 0);
	char query[200] = "", when[96];
	size_t q = 0;
	int n;

	if (!esc)
		return -ENOMEM;
	if (cr->cfg.top)
		q += (size_t)snprintf(query, sizeof(query), "?$top=%u",
				      cr->cfg.top);
	if (cr->cfg.model)
		q += (size_t)snprintf(query + q, sizeof(query) - q,
				      "%cmodel=%s", q ? '&' : '?',
				      cr->cfg.model);
	if (since_ns >= 0) {
		format_time(since_ns, when, sizeof(when));
		snprintf(query + q, sizeof(query) - q,
			 "%c$filter=lastModifiedDateTime%%20gt%%20%s",
			 q ? '&' : '?', when);
	}
	n = asprintf(url, "%s/%s/%s/%s/getAllMessages%s", graph_base(cr->graph),
		     j->kind == 'u' ? "users" : "teams", esc,
		     j->kind == 'u' ? "chats" : "channels", query);
	curl_free(esc);
	return n < 0 ? -ENOMEM : 0;
}

static void describe(const struct crawl_job *j, char *buf, size_t n)
{
	if (j->owner)
		snprintf(buf, n, "%s of %s %s",
			 j->kind == 'u' ? "chats" : "channels",
			 j->kind == 'u' ? "user" : "team", j->id);
	else
		snprintf(buf, n, "list of %s",
			 j->kind == 'u' ? "users" : "teams");
}

/* Walks from @url (which it frees), storing every page. */
static int walk(struct scope_walk *w, char *url, const char *what)
{
	int rc = graph_walk_messages(w->cr->graph, url, what, store_page, w);
	int frc = ingest_flush(&w->in);

	/* Pages received before a failure are whole: they are kept. */
	free(url);
	return rc ? rc : frc;
}

/* The first crawl of a scope, resumed from a stored link if there is one */
static int crawl_whole(struct crawl_job *j, struct scope_walk *w,
		       struct scope_rec *r, const char *what)
{
	char *url = r->next_link;
	int rc;

	r->next_link = NULL;
	if (url) {
		log_notice("%s: resuming an interrupted crawl", what);
		rc = walk(w, url, what);
		if (!rc || rc == -ECANCELED || rc == -ENOMEM)
			return rc;
		/*
		 * Graph refused the stored link (skip tokens expire).  Pages
		 * are not in date order, so nothing short of the whole scope
		 * is sure to cover what the lost pages held.
		 */
		log_notice("%s: the stored resume link failed; crawling the "
			   "scope again from its start",
			   what);
		rc = close_scope(w, 0);
		if (rc)
			return rc;
	}
	rc = first_url(j->cr, j, -1, &url);
	return rc ? rc : walk(w, url, what);
}

static int run_scope(struct crawl_job *j)
{
	struct crawler *cr = j->cr;
	struct scope_walk w = {.cr = cr, .kind = j->kind, .owner = j->owner};
	char what[NAME_MAX_BYTES + 64];
	struct scope_rec r;
	char *url;
	int rc;

	describe(j, what, sizeof(what));
	rc = cache_scope_get(cr->cache, j->kind, j->owner, &r);
	if (rc)
		return rc;
	if ((r.flags & SCOPE_COMPLETE) && !j->refresh) {
		free(r.next_link);
		return 0;
	}
	if (cr->cfg.offline) {
		free(r.next_link);
		log_info("%s: not in the cache, and offline", what);
		return -EIO;
	}
	w.refresh = (r.flags & SCOPE_COMPLETE) != 0;
	ingest_init(&w.in, cr->cache, j->kind, j->owner, w.refresh, changed,
		    &w);
	w.in.progress = &cr->stored;
	if (w.refresh) {
		int64_t since = r.newest_ns < r.completed_ns ? r.newest_ns
							     : r.completed_ns;

		free(r.next_link);
		rc = first_url(cr, j, since - cr->cfg.overlap_ns, &url);
		if (!rc)
			rc = walk(&w, url, what);
	} else {
		rc = crawl_whole(j, &w, &r, what);
	}
	if (!rc)
		rc = close_scope(&w, 1);
	if (w.in.skipped)
		log_warning("%s: %u items were not message objects and were "
			    "skipped",
			    what, w.in.skipped);
	if (!rc) {
		log_info("%s: %s, %llu messages stored", what,
			 w.refresh ? "refreshed" : "complete",
			 (unsigned long long)w.in.stored);
		if (w.refresh && w.in.stored && cr->changed)
			cr->changed(cr->changed_ctx, j->kind, j->owner, NULL,
				    NULL);
	} else if (w.refresh && rc != -ECANCELED) {
		hold_off(cr, j->key);
	}
	ingest_done(&w.in);
	return rc;
}

/* Carries a list walk from page to page. */
struct list_walk {
	struct crawler *cr;
	char kind;
	uint32_t count;
};

static int store_list_page(void *ctx, struct json_object *page,
			   const char *next)
{
	struct list_walk *w = ctx;
	struct json_object *value, *item, *v;
	char name[NAME_MAX_BYTES + 1];
	struct cache_txn *t;
	int rc;

	(void)next;
	if (w->cr->stopping)
		return -ECANCELED;
	json_object_object_get_ex(page, "value", &value);
	rc = cache_write_begin(w->cr->cache, &t);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < json_object_array_length(value); i++) {
		const char *id, *display = NULL, *label;

		item = json_object_array_get_idx(value, i);
		if (!json_object_object_get_ex(item, "id", &v) ||
		    !json_object_is_type(v, json_type_string))
			continue;
		id = json_object_get_string(v);
		name_from_id(id, (size_t)json_object_get_string_len(v), "",
			     name);
		if (json_object_object_get_ex(item, "displayName", &v) &&
		    json_object_is_type(v, json_type_string))
			display = json_object_get_string(v);
		/* Users go by their sign-in name, teams by their name. */
		label = display;
		if (w->kind == 'u' &&
		    json_object_object_get_ex(item, "userPrincipalName", &v) &&
		    json_object_is_type(v, json_type_string))
			label = json_object_get_string(v);
		rc = cache_list_put(t, w->kind, name, id, display, label);
		w->count++;
	}
	if (rc) {
		cache_abort(t);
		return rc;
	}
	return cache_commit(t);
}

static int run_list(struct crawl_job *j)
{
	struct crawler *cr = j->cr;
	struct list_walk w = {cr, j->kind, 0};
	char what[64];
	struct list_state st;
	struct cache_txn *t;
	char *url;
	int rc;

	describe(j, what, sizeof(what));
	if (!cache_list_state(cr->cache, j->kind, &st) && st.complete &&
	    !j->refresh)
		return 0;
	if (cr->cfg.offline) {
		log_info("%s: not in the cache, and offline", what);
		return -EIO;
	}
	if (asprintf(&url, "%s/%s", graph_base(cr->graph),
		     j->kind == 'u' ? "users?$select=id,displayName,"
				      "userPrincipalName&$top=999"
				    : "teams") < 0)
		return -ENOMEM;
	rc = graph_walk(cr->graph, url, what, store_list_page, &w);
	free(url);
	if (!rc)
		rc = cache_write_begin(cr->cache, &t);
	if (!rc) {
		rc = cache_list_complete(t, j->kind, w.count, now_ns());
		if (rc)
			cache_abort(t);
		else
			rc = cache_commit(t);
	}
	if (!rc && j->refresh && cr->changed)
		cr->changed(cr->changed_ctx, j->kind, NULL, NULL, NULL);
	if (rc && j->refresh && rc != -ECANCELED)
		hold_off(cr, j->key);
	return rc;
}

static int run_job(void *arg)
{
	struct crawl_job *j = arg;

	return j->owner ? run_scope(j) : run_list(j);
}

static void free_job(void *arg)
{
	struct crawl_job *j = arg;

	free(j->owner);
	free(j->id);
	free(j);
}

/* Starts (or joins) the job for a scope (@owner set) or a list. */
static int submit(struct crawler *cr, char kind, const char *owner,
		  const char *id, int refresh, int wait, jobs_cancel_fn cancel,
		  void *arg)
{
	struct crawl_job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->cr = cr;
	j->kind = kind;
	j->refresh = refresh;
	snprintf(j->key, sizeof(j->key), "%c%c%s", owner ? 's' : 'l', kind,
		 owner ? owner : "");
	if ((owner && !(j->owner = strdup(owner))) ||
	    (id && !(j->id = strdup(id)))) {
		free_job(j);
		return -ENOMEM;
	}
	return jobs_run(cr->jobs, j->key, run_job, j, free_job, wait, cancel,
			arg);
}

static void scope_key(char kind, const char *owner, char *key, size_t n)
{
	snprintf(key, n, "s%c%s", kind, owner);
}

int crawl_scope(struct crawler *cr, char kind, const char *owner,
		const char *id, jobs_cancel_fn cancel, void *arg)
{
	char key[NAME_MAX_BYTES + 4];
	struct scope_rec r;
	int rc = cache_scope_get(cr->cache, kind, owner, &r);

	if (rc)
		return rc;
	free(r.next_link);
	if (!(r.flags & SCOPE_COMPLETE))
		return submit(cr, kind, owner, id, 0, 1, cancel, arg);
	scope_key(kind, owner, key, sizeof(key));
	if (due(cr, key, r.completed_ns) && !jobs_running(cr->jobs, key))
		submit(cr, kind, owner, id, 1, 0, NULL, NULL);
	return 0;
}

int crawl_refresh_scope(struct crawler *cr, char kind, const char *owner,
			const char *id, jobs_cancel_fn cancel, void *arg)
{
	if (cr->cfg.offline)
		return -ENETDOWN;
	return submit(cr, kind, owner, id, 1, 1, cancel, arg);
}

int crawl_list(struct crawler *cr, char kind, jobs_cancel_fn cancel, void *arg)
{
	struct list_state st;
	char key[3] = {'l', kind, '\0'};

	if (cache_list_state(cr->cache, kind, &st) || !st.complete)
		return submit(cr, kind, NULL, NULL, 0, 1, cancel, arg);
	if (due(cr, key, st.fetched_ns) && !jobs_running(cr->jobs, key))
		submit(cr, kind, NULL, NULL, 1, 0, NULL, NULL);
	return 0;
}

int crawl_refresh_list(struct crawler *cr, char kind, jobs_cancel_fn cancel,
		       void *arg)
{
	if (cr->cfg.offline)
		return -ENETDOWN;
	return submit(cr, kind, NULL, NULL, 1, 1, cancel, arg);
}

uint64_t crawler_stored(struct crawler *cr)
{
	return __atomic_load_n(&cr->stored, __ATOMIC_RELAXED);
}
