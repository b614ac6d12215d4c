/* crawl.c - single-flight, resumable crawls of scopes and lists. */
#include "crawl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cache.h"
#include "graph.h"
#include "hash.h"
#include "log.h"
#include "names.h"
#include "render.h"

/* A crawl in flight, shared by everyone waiting for it. */
struct job {
	struct job *next;
	char *key;
	int done, result, waiters;
};

struct crawler {
	struct cache *cache;
	struct graph *graph;
	struct crawl_config cfg;
	char *model;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct job *jobs;
};

int crawler_new(struct cache *c, struct graph *g,
		const struct crawl_config *cfg, struct crawler **out)
{
	struct crawler *cr = calloc(1, sizeof(*cr));

	if (!cr)
		return -ENOMEM;
	cr->cache = c;
	cr->graph = g;
	cr->cfg = *cfg;
	if (cfg->model && !(cr->model = strdup(cfg->model))) {
		free(cr);
		return -ENOMEM;
	}
	cr->cfg.model = cr->model;
	pthread_mutex_init(&cr->lock, NULL);
	pthread_cond_init(&cr->changed, NULL);
	*out = cr;
	return 0;
}

void crawler_free(struct crawler *cr)
{
	if (!cr)
		return;
	pthread_mutex_destroy(&cr->lock);
	pthread_cond_destroy(&cr->changed);
	free(cr->model);
	free(cr);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Runs @run(@cr, @arg) unless a crawl under @key is in flight, in which case
 * it waits for that one and shares its result.
 */
static int single_flight(struct crawler *cr, const char *key,
			 int (*run)(struct crawler *, void *), void *arg)
{
	struct job *j, **pp;
	int rc;

	pthread_mutex_lock(&cr->lock);
	for (j = cr->jobs; j; j = j->next)
		if (!strcmp(j->key, key))
			break;
	if (j) {
		j->waiters++;
		while (!j->done)
			pthread_cond_wait(&cr->changed, &cr->lock);
		rc = j->result;
		if (--j->waiters == 0) {
			free(j->key);
			free(j);
		}
		pthread_mutex_unlock(&cr->lock);
		return rc;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->key = strdup(key))) {
		free(j);
		pthread_mutex_unlock(&cr->lock);
		return -ENOMEM;
	}
	j->waiters = 1;
	j->next = cr->jobs;
	cr->jobs = j;
	pthread_mutex_unlock(&cr->lock);

	rc = run(cr, arg);

	pthread_mutex_lock(&cr->lock);
	for (pp = &cr->jobs; *pp != j; pp = &(*pp)->next)
		;
	*pp = j->next;
	j->done = 1;
	j->result = rc;
	pthread_cond_broadcast(&cr->changed);
	if (--j->waiters == 0) {
		free(j->key);
		free(j);
	}
	pthread_mutex_unlock(&cr->lock);
	return rc;
}

/* Everything one scope crawl carries from page to page. */
struct scope_walk {
	struct crawler *cr;
	char kind;
	const char *owner;
	uint64_t sh;
	uint64_t stored;
	unsigned skipped;
};

/* Stores one message of a page in @t and updates the scope record @r. */
static int store_message(struct scope_walk *w, struct cache_txn *t,
			 struct json_object *msg, struct scope_rec *r)
{
	char cont[NAME_MAX_BYTES + 1], name[NAME_MAX_BYTES + 1];
	const char *cont_id = NULL;
	struct message_facts f;
	size_t len;
	char *bytes;
	int rc, new_cont;

	if (render_message_facts(msg, w->kind, &f)) {
		w->skipped++;
		return 0;
	}
	bytes = render_json(msg, &len);
	if (!bytes)
		return -ENOMEM;
	if (f.container) {
		name_from_id(f.container, f.container_len, "", cont);
		cont_id = f.container;
	} else {
		snprintf(cont, sizeof(cont), "%s",
			 w->kind == 'u' ? "%nochat" : "%nochannel");
	}
	if (f.id)
		name_from_id(f.id, f.id_len, ".json", name);
	else
		snprintf(name, sizeof(name), "%%noid-%016llx.json",
			 (unsigned long long)hash_bytes(bytes, len));
	rc = cache_msg_put(t, w->sh, cont, cont_id, name, f.mtime_ns, bytes,
			   len, &new_cont);
	free(bytes);
	if (rc < 0)
		return rc;
	if (rc == 1)
		r->messages++;
	if (new_cont)
		r->containers++;
	if (rc > 0 && f.mtime_ns > r->newest_ns)
		r->newest_ns = f.mtime_ns;
	w->stored += rc > 0;
	return 0;
}

/* Stores one page of a scope and the link after it in one write. */
static int store_page(void *ctx, struct json_object *page, const char *next)
{
	struct scope_walk *w = ctx;
	struct json_object *value;
	struct cache_txn *t;
	struct scope_rec r;
	size_t n;
	int rc;

	json_object_object_get_ex(page, "value", &value);
	n = json_object_array_length(value);
	rc = cache_write_begin(w->cr->cache, &t);
	if (rc)
		return rc;
	rc = cache_scope_get_txn(t, w->kind, w->owner, &r);
	for (size_t i = 0; !rc && i < n; i++)
		rc = store_message(w, t, json_object_array_get_idx(value, i),
				   &r);
	free(r.next_link);
	r.next_link = (char *)next;
	if (!rc)
		rc = cache_scope_put(t, w->kind, w->owner, &r);
	if (rc) {
		cache_abort(t);
		return rc;
	}
	return cache_commit(t);
}

/* Marks the scope complete once its last page is stored. */
static int finish_scope(struct scope_walk *w)
{
	struct cache_txn *t;
	struct scope_rec r;
	int rc = cache_write_begin(w->cr->cache, &t);

	if (rc)
		return rc;
	rc = cache_scope_get_txn(t, w->kind, w->owner, &r);
	free(r.next_link);
	r.next_link = NULL;
	r.flags |= SCOPE_COMPLETE;
	r.completed_ns = now_ns();
	if (!rc)
		rc = cache_scope_put(t, w->kind, w->owner, &r);
	if (rc) {
		cache_abort(t);
		return rc;
	}
	return cache_commit(t);
}

/* Forgets a stored resume link that Graph would not take. */
static int drop_resume_link(struct scope_walk *w)
{
	struct cache_txn *t;
	struct scope_rec r;
	int rc = cache_write_begin(w->cr->cache, &t);

	if (rc)
		return rc;
	rc = cache_scope_get_txn(t, w->kind, w->owner, &r);
	free(r.next_link);
	r.next_link = NULL;
	if (!rc)
		rc = cache_scope_put(t, w->kind, w->owner, &r);
	if (rc) {
		cache_abort(t);
		return rc;
	}
	return cache_commit(t);
}

struct scope_arg {
	char kind;
	const char *owner, *id;
};

static int first_url(struct crawler *cr, const struct scope_arg *a,
		     char **url)
{
	char *esc = curl_easy_escape(NULL, a->id, 0);
	char query[64] = "";
	size_t q = 0;
	int n;

	if (!esc)
		return -ENOMEM;
	if (cr->cfg.top)
		q += (size_t)snprintf(query, sizeof(query), "?$top=%u",
				      cr->cfg.top);
	if (cr->cfg.model)
		snprintf(query + q, sizeof(query) - q, "%cmodel=%s",
			 q ? '&' : '?', cr->cfg.model);
	n = asprintf(url, "%s/%s/%s/%s/getAllMessages%s",
		     graph_base(cr->graph), a->kind == 'u' ? "users" : "teams",
		     esc, a->kind == 'u' ? "chats" : "channels", query);
	curl_free(esc);
	return n < 0 ? -ENOMEM : 0;
}

static int run_scope(struct crawler *cr, void *arg)
{
	const struct scope_arg *a = arg;
	struct scope_walk w = {cr, a->kind, a->owner,
			       cache_scope_hash(a->kind, a->owner), 0, 0};
	char what[NAME_MAX_BYTES + 64];
	struct scope_rec r;
	char *url = NULL;
	int rc, resumed;

	rc = cache_scope_get(cr->cache, a->kind, a->owner, &r);
	if (rc)
		return rc;
	if (r.flags & SCOPE_COMPLETE) {
		free(r.next_link);
		return 0;
	}
	snprintf(what, sizeof(what), "%s of %s %s",
		 a->kind == 'u' ? "chats" : "channels",
		 a->kind == 'u' ? "user" : "team", a->id);
	if (cr->cfg.offline) {
		free(r.next_link);
		log_info("%s: not in the cache and offline", what);
		return -EIO;
	}
	resumed = r.next_link != NULL;
	if (resumed) {
		url = r.next_link;
		log_notice("%s: resuming an interrupted crawl", what);
	} else {
		rc = first_url(cr, a, &url);
		if (rc)
			return rc;
	}
	rc = graph_walk(cr->graph, url, what, store_page, &w);
	free(url);
	if (rc && resumed && rc != -ENOMEM) {
		log_notice("%s: the resume link failed; crawling from the "
			   "start",
			   what);
		rc = drop_resume_link(&w);
		if (!rc)
			rc = first_url(cr, a, &url);
		if (!rc) {
			rc = graph_walk(cr->graph, url, what, store_page, &w);
			free(url);
		}
	}
	if (!rc)
		rc = finish_scope(&w);
	if (w.skipped)
		log_warning("%s: %u items were not message objects and were "
			    "skipped",
			    what, w.skipped);
	if (!rc)
		log_info("%s: complete, %llu messages stored", what,
			 (unsigned long long)w.stored);
	return rc;
}

int crawl_scope(struct crawler *cr, char kind, const char *owner,
		const char *id)
{
	struct scope_arg a = {kind, owner, id};
	struct scope_rec r;
	char key[NAME_MAX_BYTES + 3];

	/* Fast path: no lock at all once the scope is complete. */
	if (!cache_scope_get(cr->cache, kind, owner, &r)) {
		free(r.next_link);
		if (r.flags & SCOPE_COMPLETE)
			return 0;
	}
	snprintf(key, sizeof(key), "s%c%s", kind, owner);
	return single_flight(cr, key, run_scope, &a);
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
	json_object_object_get_ex(page, "value", &value);
	rc = cache_write_begin(w->cr->cache, &t);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < json_object_array_length(value); i++) {
		const char *id, *display = NULL;

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
		rc = cache_list_put(t, w->kind, name, id, display);
		w->count++;
	}
	if (rc) {
		cache_abort(t);
		return rc;
	}
	return cache_commit(t);
}

static int run_list(struct crawler *cr, void *arg)
{
	struct list_walk w = {cr, *(char *)arg, 0};
	const char *what = w.kind == 'u' ? "list of users" : "list of teams";
	struct list_state st;
	struct cache_txn *t;
	char *url;
	int rc;

	if (!cache_list_state(cr->cache, w.kind, &st) && st.complete)
		return 0;
	if (cr->cfg.offline) {
		log_info("%s: not in the cache and offline", what);
		return -EIO;
	}
	if (asprintf(&url, "%s/%s", graph_base(cr->graph),
		     w.kind == 'u' ? "users?$select=id,displayName,"
				     "userPrincipalName&$top=999"
				   : "teams") < 0)
		return -ENOMEM;
	rc = graph_walk(cr->graph, url, what, store_list_page, &w);
	free(url);
	if (rc)
		return rc;
	rc = cache_write_begin(cr->cache, &t);
	if (rc)
		return rc;
	rc = cache_list_complete(t, w.kind, w.count, now_ns());
	if (rc) {
		cache_abort(t);
		return rc;
	}
	return cache_commit(t);
}

int crawl_list(struct crawler *cr, char kind)
{
	struct list_state st;
	char key[3] = {'l', kind, '\0'};

	if (!cache_list_state(cr->cache, kind, &st) && st.complete)
		return 0;
	return single_flight(cr, key, run_list, &kind);
}
