/* ingest.c - pages of getAllMessages into the cache (see ingest.h). */
#include "ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "attach.h"
#include "hash.h"
#include "names.h"
#include "render.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ingest_init(struct ingest *in, struct cache *c, char kind,
		 const char *owner, int refresh, ingest_change_fn changed,
		 void *ctx)
{
	memset(in, 0, sizeof(*in));
	in->cache = c;
	in->kind = kind;
	in->owner = owner;
	in->sh = cache_scope_hash(kind, owner);
	in->refresh = refresh;
	in->changed = changed;
	in->changed_ctx = ctx;
	/* The first page is stored at once. */
	in->committed_ns = now_ns() - INGEST_COMMIT_NS;
}

static int note_change(struct ingest *w, const char *cont, const char *msg)
{
	if (w->nchanges == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct ingest_change *p = realloc(w->changes, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->changes = p;
		w->cap = cap;
	}
	strcpy(w->changes[w->nchanges].cont, cont);
	strcpy(w->changes[w->nchanges].msg, msg);
	w->nchanges++;
	return 0;
}

/* Tells the change callback what the last committed pages changed. */
static void report_changes(struct ingest *w)
{
	for (size_t i = 0; w->changed && i < w->nchanges; i++) {
		struct ingest_change *c = &w->changes[i];

		w->changed(w->changed_ctx, c->cont, c->msg[0] ? c->msg : NULL);
	}
	w->nchanges = 0;
}

/*
 * Stores the attachment files of a message whose bytes were just written as
 * @name (its attachments directory @dir); @first: no copy of it was stored
 * before, so there is nothing to replace.
 */
static int store_attachments(struct ingest *w, struct cache_txn *t,
			     const struct page_msg *pm, const char *cont,
			     const char *name, const char *dir, int first)
{
	struct json_object *msg = NULL;
	struct att *atts = NULL;
	size_t n = 0;
	int rc;

	if (pm->may_attach) {
		msg = json_tokener_parse(pm->json);
		if (!msg)
			return -ENOMEM;
		rc = attach_extract(msg, &atts, &n);
		json_object_put(msg);
		if (rc)
			return rc;
	}
	if (!n && first)
		return 0;
	rc = cache_att_replace(t, w->sh, cont, name, dir, atts, n,
			       pm->mtime_ns);
	attach_free(atts, n);
	return rc;
}

/* The hash of the file bytes of a message without an id, which names it. */
static int noid_hash(const struct page_msg *pm, uint64_t *h)
{
	size_t len = render_pretty_len(pm->json, pm->len);
	char *bytes = malloc(len);

	if (!bytes)
		return -ENOMEM;
	render_pretty(pm->json, pm->len, bytes, len);
	*h = hash_bytes(bytes, len);
	free(bytes);
	return 0;
}

/* Stores one message of a page in @t and updates the scope record @r. */
static int store_message(struct ingest *w, struct cache_txn *t,
			 const struct page_msg *pm, struct scope_rec *r)
{
	char cont[NAME_MAX_BYTES + 1], name[NAME_MAX_BYTES + 1];
	char dir[NAME_MAX_BYTES + 1];
	const char *cid = w->kind == 'u' ? pm->chat : pm->chan;
	size_t cid_len = w->kind == 'u' ? pm->chat_len : pm->chan_len;
	unsigned done;
	uint64_t h = 0;
	int rc;

	if (!pm->is_object) {
		w->skipped++;
		return 0;
	}
	if (cid)
		name_from_id(cid, cid_len, "", cont);
	else
		snprintf(cont, sizeof(cont), "%s",
			 w->kind == 'u' ? "%nochat" : "%nochannel");
	if (!pm->id && (rc = noid_hash(pm, &h)))
		return rc;
	if (pm->id)
		name_from_id(pm->id, pm->id_len, ".json", name);
	else
		snprintf(name, sizeof(name), "%%noid-%016llx.json",
			 (unsigned long long)h);
	rc = cache_msg_put(t, w->sh, cont, cid, name, pm->mtime_ns, pm->json,
			   pm->len, &done);
	if (!rc && (done & CACHE_MSG_STORED)) {
		if (pm->id)
			name_from_id(pm->id, pm->id_len, ".attachments", dir);
		else
			snprintf(dir, sizeof(dir), "%%noid-%016llx.attachments",
				 (unsigned long long)h);
		rc = store_attachments(w, t, pm, cont, name, dir,
				       !!(done & CACHE_MSG_FIRST));
	}
	if (rc)
		return rc;
	if (done & CACHE_MSG_NEW)
		r->messages++;
	if (done & CACHE_MSG_NEW_CONT)
		r->containers++;
	if (!(done & (CACHE_MSG_NEW | CACHE_MSG_STORED)))
		return 0;
	if (pm->mtime_ns > r->newest_ns)
		r->newest_ns = pm->mtime_ns;
	w->stored++;
	if (w->progress)
		__atomic_add_fetch(w->progress, 1, __ATOMIC_RELAXED);
	if (w->refresh) {
		rc = note_change(w, cont, name);
		if (!rc && (done & CACHE_MSG_NEW_CONT))
			rc = note_change(w, cont, "");
	}
	return rc;
}

static void drop_pending(struct ingest *w)
{
	for (size_t i = 0; i < w->npend; i++) {
		page_free(w->pend[i].pg);
		free(w->pend[i].next);
	}
	w->npend = 0;
}

/*
 * The pages received so far go in one write with the link after the last
 * of them: what is committed and the link stored always agree.
 */
int ingest_flush(struct ingest *w)
{
	struct cache_txn *t;
	struct scope_rec r;
	int rc;

	if (!w->npend)
		return 0;
	rc = cache_write_begin(w->cache, &t);
	if (rc) {
		drop_pending(w);
		return rc;
	}
	rc = cache_scope_get_txn(t, w->kind, w->owner, &r);
	for (size_t p = 0; !rc && p < w->npend; p++)
		for (size_t i = 0; !rc && i < w->pend[p].pg->n; i++)
			rc = store_message(w, t, &w->pend[p].pg->msgs[i], &r);
	if (!w->refresh) {
		free(r.next_link);
		r.next_link = w->pend[w->npend - 1].next;
	}
	if (!rc)
		rc = cache_scope_put(t, w->kind, w->owner, &r);
	if (w->refresh)
		free(r.next_link);
	if (rc) {
		cache_abort(t);
		w->nchanges = 0;
		drop_pending(w);
		return rc;
	}
	rc = cache_commit(t);
	drop_pending(w);
	w->committed_ns = now_ns();
	if (!rc)
		report_changes(w);
	return rc;
}

int ingest_page(struct ingest *w, struct page *pg, const char *next)
{
	char *link = NULL;

	if (next && !(link = strdup(next))) {
		page_free(pg);
		drop_pending(w);
		return -ENOMEM;
	}
	w->pend[w->npend].pg = pg;
	w->pend[w->npend++].next = link;
	if (next && w->npend < INGEST_COMMIT_PAGES &&
	    now_ns() - w->committed_ns < INGEST_COMMIT_NS)
		return 0;
	return ingest_flush(w);
}

void ingest_done(struct ingest *in)
{
	drop_pending(in);
	free(in->changes);
	in->changes = NULL;
}
