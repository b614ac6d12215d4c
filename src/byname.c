/* byname.c - readable names for users, teams, chats and channels. */
#include "byname.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "cache.h"
#include "crawl.h"
#include "graph.h"
#include "hash.h"
#include "log.h"
#include "names.h"

/* A readable name and the id it stands for, before clashes are settled. */
struct pair {
	char *label;  /* readable, unescaped */
	char *id;     /* Graph id: decides clashes */
	char *target; /* file name it leads to */
	char *meta;   /* what Graph said of it, as JSON text, or NULL */
	char name[NAME_MAX_BYTES + 1]; /* final, escaped readable name */
};

struct pairs {
	struct pair *p;
	size_t n, cap;
};

/* The owners of one kind, named, as last built from the cached list. */
struct owner_index {
	int64_t built_for; /* fetched_ns of the list it was built from */
	struct pairs ps;   /* sorted by name */
};

struct byname {
	struct cache *cache;
	struct crawler *crawler;
	struct graph *graph;
	int offline;
	struct jobs *jobs;
	pthread_mutex_t lock;
	struct owner_index owners[2];
};

int byname_new(struct cache *c, struct crawler *cr, struct graph *g,
	       int offline, struct byname **out)
{
	struct byname *b = calloc(1, sizeof(*b));

	if (!b || jobs_new(&b->jobs)) {
		free(b);
		return -ENOMEM;
	}
	b->cache = c;
	b->crawler = cr;
	b->graph = g;
	b->offline = offline;
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
}

static void pairs_free(struct pairs *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->p[i].label);
		free(ps->p[i].id);
		free(ps->p[i].target);
		free(ps->p[i].meta);
	}
	free(ps->p);
	memset(ps, 0, sizeof(*ps));
}

void byname_free(struct byname *b)
{
	if (!b)
		return;
	jobs_free(b->jobs);
	pairs_free(&b->owners[0].ps);
	pairs_free(&b->owners[1].ps);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static int pairs_add(struct pairs *ps, const char *label, const char *id,
		     const char *target)
{
	struct pair *p;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 32;

		p = realloc(ps->p, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		ps->p = p;
		ps->cap = cap;
	}
	p = &ps->p[ps->n];
	memset(p, 0, sizeof(*p));
	p->label = strdup(label && *label ? label : id);
	p->id = strdup(id);
	p->target = strdup(target);
	if (!p->label || !p->id || !p->target) {
		free(p->label);
		free(p->id);
		free(p->target);
		return -ENOMEM;
	}
	ps->n++;
	return 0;
}

static int by_label_then_id(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->label, y->label);

	return c ? c : strcmp(x->id, y->id);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->name,
		      ((const struct pair *)b)->name);
}

/* Escapes every label; all but the first of equal labels get "~hash". */
static void settle(struct pairs *ps)
{
	qsort(ps->p, ps->n, sizeof(*ps->p), by_label_then_id);
	for (size_t i = 0; i < ps->n; i++) {
		struct pair *p = &ps->p[i];

		if (i && !strcmp(p->label, ps->p[i - 1].label)) {
			size_t len = strlen(p->label);
			char *raw = malloc(len + 16);

			if (raw) {
				snprintf(
					raw, len + 16, "%s~%08llx", p->label,
					(unsigned long long)(hash_bytes(
								     p->id,
								     strlen(p->id)) >>
							     32));
				name_from_id(raw, strlen(raw), "", p->name);
				free(raw);
				continue;
			}
		}
		name_from_id(p->label, strlen(p->label), "", p->name);
	}
	qsort(ps->p, ps->n, sizeof(*ps->p), by_name);
}

/* Collects the cached list of owners into pairs. */
struct owner_walk {
	struct byname *b;
	char kind;
	struct pairs *ps;
	int rc;
};

static int owner_entry(void *ctx, const char *name, size_t len, const void *rec)
{
	struct owner_walk *w = ctx;
	char owner[NAME_MAX_BYTES + 1];
	struct list_entry e;

	(void)rec;
	snprintf(owner, sizeof(owner), "%.*s", (int)len, name);
	w->rc = cache_list_get(w->b->cache, w->kind, owner, &e);
	if (!w->rc) {
		w->rc = pairs_add(w->ps, e.label ? e.label : e.display, e.id,
				  owner);
		cache_list_entry_free(&e);
	}
	return w->rc;
}

/* Rebuilds the owner index of @kind if the list changed; lock held. */
static int owner_index(struct byname *b, char kind, jobs_cancel_fn cancel,
		       void *arg, struct owner_index **out)
{
	struct owner_index *ix = &b->owners[kind == 'u' ? 0 : 1];
	struct owner_walk w = {b, kind, NULL, 0};
	struct list_state st;
	struct pairs ps = {0};
	int rc = crawl_list(b->crawler, kind, cancel, arg);

	if (!rc)
		rc = cache_list_state(b->cache, kind, &st);
	if (rc)
		return rc;
	if (ix->built_for != st.fetched_ns || !ix->built_for) {
		w.ps = &ps;
		rc = cache_list_foreach(b->cache, kind, owner_entry, &w);
		if (rc || w.rc) {
			pairs_free(&ps);
			return rc ? rc : w.rc;
		}
		settle(&ps);
		pairs_free(&ix->ps);
		ix->ps = ps;
		ix->built_for = st.fetched_ns;
	}
	*out = ix;
	return 0;
}

int byname_owners(struct byname *b, char kind, byname_fn fn, void *ctx,
		  jobs_cancel_fn cancel, void *arg)
{
	struct owner_index *ix;
	int rc;

	pthread_mutex_lock(&b->lock);
	rc = owner_index(b, kind, cancel, arg, &ix);
	for (size_t i = 0; !rc && i < ix->ps.n; i++)
		rc = fn(ctx, ix->ps.p[i].name, ix->ps.p[i].target);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int byname_owner(struct byname *b, char kind, const char *readable, char *owner,
		 jobs_cancel_fn cancel, void *arg)
{
	struct owner_index *ix;
	struct pair key, *hit = NULL;
	int rc;

	snprintf(key.name, sizeof(key.name), "%s", readable);
	pthread_mutex_lock(&b->lock);
	rc = owner_index(b, kind, cancel, arg, &ix);
	if (!rc)
		hit = bsearch(&key, ix->ps.p, ix->ps.n, sizeof(key), by_name);
	if (hit)
		strcpy(owner, hit->target);
	pthread_mutex_unlock(&b->lock);
	return rc ? rc : hit ? 0 : -ENOENT;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* The readable name of a chat, seen from the user @self. */
static char *chat_label(struct json_object *chat, const char *self)
{
	const char *topic = str_of(chat, "topic");
	struct json_object *members;
	char buf[512] = "";
	size_t used = 0, others = 0;

	if (topic && *topic)
		return strdup(topic);
	if (!json_object_object_get_ex(chat, "members", &members) ||
	    !json_object_is_type(members, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(members); i++) {
		struct json_object *m = json_object_array_get_idx(members, i);
		const char *uid = str_of(m, "userId");
		const char *name = str_of(m, "displayName");

		if (!name || (uid && !strcmp(uid, self)))
			continue;
		if (++others > 3)
			continue;
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s",
					 used ? ", " : "", name);
		if (used >= sizeof(buf))
			used = sizeof(buf) - 1;
	}
	if (others > 3)
		snprintf(buf + used, sizeof(buf) - used, " +%zu", others - 3);
	return buf[0] ? strdup(buf) : NULL;
}

/*
 * What a person asks of a chat (type, topic, members) or a channel (name,
 * membership), as the JSON text kept for its directory's xattrs.
 */
static char *describe(struct json_object *item, char kind)
{
	static const char *const chat_keys[] = {"chatType", "topic", NULL};
	static const char *const channel_keys[] = {"displayName",
						   "membershipType", NULL};
	const char *const *keys = kind == 'u' ? chat_keys : channel_keys;
	struct json_object *out = json_object_new_object(), *members;
	char *text = NULL;

	if (!out)
		return NULL;
	for (size_t i = 0; keys[i]; i++)
		if (str_of(item, keys[i]))
			json_object_object_add(
				out, keys[i],
				json_object_new_string(str_of(item, keys[i])));
	if (kind == 'u' &&
	    json_object_object_get_ex(item, "members", &members) &&
	    json_object_is_type(members, json_type_array)) {
		struct json_object *names = json_object_new_array();

		for (size_t i = 0;
		     names && i < json_object_array_length(members); i++) {
			const char *n =
				str_of(json_object_array_get_idx(members, i),
				       "displayName");

			if (n)
				json_object_array_add(
					names, json_object_new_string(n));
		}
		if (names)
			json_object_object_add(out, "members", names);
	}
	text = strdup(json_object_to_json_string_ext(
		out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(out);
	return text;
}

/* One names fetch: a user's chats or a team's channels. */
struct fetch_job {
	struct byname *b;
	char kind;
	char *owner, *id;
	struct pairs ps;
};

static int names_page(void *ctx, struct json_object *page, const char *next)
{
	struct fetch_job *j = ctx;
	struct json_object *value;
	char target[NAME_MAX_BYTES + 1];
	int rc = 0;

	(void)next;
	json_object_object_get_ex(page, "value", &value);
	for (size_t i = 0; !rc && i < json_object_array_length(value); i++) {
		struct json_object *item = json_object_array_get_idx(value, i);
		const char *id = str_of(item, "id");
		char *label;

		if (!id)
			continue;
		name_from_id(id, strlen(id), "", target);
		label = j->kind == 'u'
				? chat_label(item, j->id)
				: (str_of(item, "displayName")
					   ? strdup(str_of(item, "displayName"))
					   : NULL);
		rc = pairs_add(&j->ps, label, id, target);
		free(label);
		if (!rc)
			j->ps.p[j->ps.n - 1].meta = describe(item, j->kind);
	}
	return rc;
}

static int run_fetch(void *arg)
{
	struct fetch_job *j = arg;
	uint64_t sh = cache_scope_hash(j->kind, j->owner);
	char *esc = curl_easy_escape(NULL, j->id, 0), *url = NULL;
	char what[NAME_MAX_BYTES + 64], **labels = NULL, **targets = NULL;
	char **metas = NULL;
	struct timespec now;
	int rc = -ENOMEM;

	snprintf(what, sizeof(what), "names of the %s of %s %s",
		 j->kind == 'u' ? "chats" : "channels",
		 j->kind == 'u' ? "user" : "team", j->id);
	if (!esc || asprintf(&url, "%s/%s/%s/%s", graph_base(j->b->graph),
			     j->kind == 'u' ? "users" : "teams", esc,
			     j->kind == 'u' ? "chats?$expand=members&$top=50"
					    : "allChannels") < 0)
		goto out;
	rc = graph_walk(j->b->graph, url, what, names_page, j);
	if (rc)
		goto out;
	settle(&j->ps);
	labels = calloc(j->ps.n + 1, sizeof(*labels));
	targets = calloc(j->ps.n + 1, sizeof(*targets));
	metas = calloc(j->ps.n + 1, sizeof(*metas));
	if (!labels || !targets || !metas) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < j->ps.n; i++) {
		labels[i] = j->ps.p[i].name;
		targets[i] = j->ps.p[i].target;
		metas[i] = j->ps.p[i].meta;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	rc = cache_names_replace(
		j->b->cache, sh, labels, targets, metas, j->ps.n,
		(int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
out:
	free(labels);
	free(targets);
	free(metas);
	free(url);
	curl_free(esc);
	return rc;
}

static void free_fetch(void *arg)
{
	struct fetch_job *j = arg;

	pairs_free(&j->ps);
	free(j->owner);
	free(j->id);
	free(j);
}

/* Makes sure the names of @owner's chats or channels are in the cache. */
static int ensure_names(struct byname *b, char kind, const char *owner,
			const char *id, jobs_cancel_fn cancel, void *arg)
{
	uint64_t sh = cache_scope_hash(kind, owner);
	struct fetch_job *j;
	char key[NAME_MAX_BYTES + 4];
	int64_t when;

	if (!cache_names_state(b->cache, sh, &when))
		return 0;
	if (b->offline)
		return -EIO;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->owner = strdup(owner)) || !(j->id = strdup(id))) {
		if (j)
			free(j->owner);
		free(j);
		return -ENOMEM;
	}
	j->b = b;
	j->kind = kind;
	snprintf(key, sizeof(key), "n%c%s", kind, owner);
	return jobs_run(b->jobs, key, run_fetch, j, free_fetch, 1, cancel, arg);
}

/* Hands cache entries to a byname_fn. */
struct cont_walk {
	byname_fn fn;
	void *ctx;
};

static int cont_entry(void *ctx, const char *name, size_t len, const void *rec)
{
	struct cont_walk *w = ctx;
	char readable[NAME_MAX_BYTES + 1];

	if (!len || !name[0])
		return 0; /* a container's description, not a name */
	snprintf(readable, sizeof(readable), "%.*s", (int)len, name);
	return w->fn(w->ctx, readable, rec);
}

int byname_conts(struct byname *b, char kind, const char *owner, const char *id,
		 byname_fn fn, void *ctx, jobs_cancel_fn cancel, void *arg)
{
	struct cont_walk w = {fn, ctx};
	int rc = ensure_names(b, kind, owner, id, cancel, arg);

	if (rc)
		return rc;
	return cache_names_foreach(b->cache, cache_scope_hash(kind, owner),
				   cont_entry, &w);
}

int byname_cont(struct byname *b, char kind, const char *owner, const char *id,
		const char *readable, char *cont, jobs_cancel_fn cancel,
		void *arg)
{
	int rc = ensure_names(b, kind, owner, id, cancel, arg);

	if (rc)
		return rc;
	return cache_names_get(b->cache, cache_scope_hash(kind, owner),
			       readable, cont);
}

int byname_cont_meta(struct byname *b, char kind, const char *owner,
		     const char *id, const char *cont, char **meta,
		     jobs_cancel_fn cancel, void *arg)
{
	int rc = ensure_names(b, kind, owner, id, cancel, arg);

	*meta = NULL;
	if (rc)
		return rc;
	return cache_names_meta(b->cache, cache_scope_hash(kind, owner), cont,
				meta);
}
