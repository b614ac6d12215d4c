/* tree.c - the mount's paths: existence, attributes, listings, contents. */
#include "tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "attach.h"
#include "byname.h"
#include "cache.h"
#include "crawl.h"
#include "fetch.h"
#include "graph.h"
#include "log.h"
#include "names.h"
#include "opts.h"
#include "render.h"
#include "transcript.h"

/* A users or teams list given on the command line instead of by Graph. */
struct fixed_list {
	int n;
	char **ids;
	char (*names)[NAME_MAX_BYTES + 1]; /* sorted by name, with ids */
};

struct tree {
	struct cache *cache;
	struct crawler *crawler;
	struct fetcher *fetcher;
	struct byname *byname;
	struct transcripts *transcripts;
	struct graph *graph;
	const struct opts *opts;
	uid_t uid;
	gid_t gid;
	struct fixed_list fixed[2]; /* [0] users, [1] teams */
	int has_fixed[2];
};

static const char link_suffix[] = ".url";
static const char *const transcript_ext[] = {".html", ".txt"};

static struct fixed_list *fixed_for(struct tree *t, char kind)
{
	int i = kind == 'u' ? 0 : 1;

	return t->has_fixed[i] ? &t->fixed[i] : NULL;
}

static int load_fixed(struct fixed_list *l, const char *list)
{
	int n = opts_split_ids(list, &l->ids);

	if (n < 0)
		return n;
	l->n = n;
	l->names = calloc((size_t)n + 1, sizeof(*l->names));
	if (!l->names)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		name_from_id(l->ids[i], strlen(l->ids[i]), "", l->names[i]);
	/* Keep listings in name order, as the cache gives them. */
	for (int i = 1; i < n; i++)
		for (int j = i;
		     j > 0 && strcmp(l->names[j - 1], l->names[j]) > 0; j--) {
			char tmp[NAME_MAX_BYTES + 1], *id = l->ids[j];

			memcpy(tmp, l->names[j], sizeof(tmp));
			memcpy(l->names[j], l->names[j - 1], sizeof(tmp));
			memcpy(l->names[j - 1], tmp, sizeof(tmp));
			l->ids[j] = l->ids[j - 1];
			l->ids[j - 1] = id;
		}
	return 0;
}

int tree_new(struct cache *c, struct crawler *cr, struct fetcher *fe,
	     struct byname *bn, struct transcripts *tr, struct graph *g,
	     const struct opts *o, struct tree **out)
{
	struct tree *t = calloc(1, sizeof(*t));
	int rc = 0;

	if (!t)
		return -ENOMEM;
	t->cache = c;
	t->crawler = cr;
	t->fetcher = fe;
	t->byname = bn;
	t->transcripts = tr;
	t->graph = g;
	t->opts = o;
	t->uid = getuid();
	t->gid = getgid();
	if (o->users) {
		t->has_fixed[0] = 1;
		rc = load_fixed(&t->fixed[0], o->users);
	}
	if (!rc && o->teams) {
		t->has_fixed[1] = 1;
		rc = load_fixed(&t->fixed[1], o->teams);
	}
	if (rc) {
		tree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < t->fixed[k].n; i++)
			free(t->fixed[k].ids[i]);
		free(t->fixed[k].ids);
		free(t->fixed[k].names);
	}
	free(t);
}

uint64_t tree_ino(const struct path *p)
{
	return nodes_ino(p);
}

static const char *scope_dir(char kind)
{
	return kind == 'u' ? "chats" : "channels";
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n > m && !strcmp(s + n - m, tail);
}

/*
 * Names that file managers, indexers and shells probe for in every
 * directory.  No Graph id has these forms, so they are answered ENOENT
 * without a crawl or a request.
 */
static int is_probe(const char *name)
{
	static const char *const probes[] = {
		".hidden",     ".directory", "autorun.inf", "desktop.ini",
		"Desktop.ini", ".DS_Store",  "Thumbs.db",   ".thumbnails",
		".Trash",      ".git",	     ".svn",	    ".xdg-volume-info",
		".localized",  "folder.jpg", "Folder.jpg",  ".comments",
	};

	if (!strncmp(name, ".Trash-", 7) || !strncmp(name, "._", 2))
		return 1;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (!strcmp(name, probes[i]))
			return 1;
	return 0;
}

int tree_child(const struct path *dir, const char *name, struct path *c)
{
	*c = *dir;
	if (dir->type != NODE_ATTDIR && is_probe(name))
		return -ENOENT;
	switch (dir->type) {
	case NODE_ROOT:
	case NODE_BN_ROOT:
	case NODE_TR_ROOT:
		if (dir->type == NODE_ROOT && !strcmp(name, "by-name")) {
			c->type = NODE_BN_ROOT;
			return 0;
		}
		if (dir->type == NODE_ROOT && !strcmp(name, "transcripts")) {
			c->type = NODE_TR_ROOT;
			return 0;
		}
		if (strcmp(name, "users") && strcmp(name, "teams"))
			return -ENOENT;
		c->type = dir->type == NODE_ROOT      ? NODE_LIST
			  : dir->type == NODE_BN_ROOT ? NODE_BN_LIST
						      : NODE_TR_LIST;
		c->kind = name[0];
		return 0;
	case NODE_TR_LIST:
		c->type = NODE_TR_OWNER;
		c->owner = name;
		return name_is_plausible(name) ? 0 : -ENOENT;
	case NODE_TR_OWNER: {
		char cont[NAME_MAX_BYTES + 1];
		enum transcript_format fmt;

		c->type = NODE_TR_FILE;
		c->cont = name;
		return transcript_name(name, cont, &fmt);
	}
	case NODE_BN_LIST:
		c->type = NODE_BN_OWNER;
		c->owner = name;
		return 0;
	case NODE_BN_OWNER:
		c->type = NODE_BN_LINK;
		c->cont = name;
		return 0;
	case NODE_LIST:
		c->type = NODE_OWNER;
		c->owner = name;
		return name_is_plausible(name) ? 0 : -ENOENT;
	case NODE_OWNER:
		c->type = NODE_SCOPE;
		return strcmp(name, scope_dir(dir->kind)) ? -ENOENT : 0;
	case NODE_SCOPE:
		c->type = NODE_CONT;
		c->cont = name;
		return name_is_plausible(name) ? 0 : -ENOENT;
	case NODE_CONT:
		c->type = ends_with(name, ".attachments") ? NODE_ATTDIR
							  : NODE_MSG;
		c->msg = name;
		return ends_with(name, ".json") || c->type == NODE_ATTDIR
			       ? 0
			       : -ENOENT;
	case NODE_ATTDIR:
		c->type = NODE_ATT;
		c->att = name;
		return 0;
	default:
		return -ENOTDIR;
	}
}

static int owner_id(struct tree *t, char kind, const char *name, char **id,
		    jobs_cancel_fn cancel, void *arg)
{
	struct fixed_list *l = fixed_for(t, kind);
	struct list_entry e;
	int rc;

	if (!name)
		return -EINVAL;

	if (l) {
		for (int i = 0; i < l->n; i++)
			if (!strcmp(l->names[i], name))
				return (*id = strdup(l->ids[i])) ? 0 : -ENOMEM;
		return -ENOENT;
	}
	rc = crawl_list(t->crawler, kind, cancel, arg);
	if (rc)
		return rc;
	rc = cache_list_get(t->cache, kind, name, &e);
	if (rc)
		return rc;
	*id = e.id;
	e.id = NULL;
	cache_list_entry_free(&e);
	return 0;
}

/* Crawls the scope of @p unless the cache has it whole. */
static int ensure_scope(struct tree *t, const struct path *p,
			jobs_cancel_fn cancel, void *arg)
{
	char *id;
	int rc = owner_id(t, p->kind, p->owner, &id, cancel, arg);

	if (rc)
		return rc == -ENOENT ? -EIO : rc;
	rc = crawl_scope(t->crawler, p->kind, p->owner, id, cancel, arg);
	free(id);
	return rc;
}

static void set_time(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	}
}

static int64_t time_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void fill(const struct tree *t, struct stat *st, uint64_t ino, int dir,
		 nlink_t nlink, uint64_t size, int64_t mtime_ns)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = dir ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = nlink;
	st->st_uid = t->uid;
	st->st_gid = t->gid;
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	set_time(&st->st_mtim, mtime_ns);
	st->st_atim = st->st_ctim = st->st_mtim;
}

/* Time the list of @kind was fetched (0 when it never was). */
static int64_t list_time(struct tree *t, char kind, uint32_t *count)
{
	struct list_state ls;
	struct fixed_list *l = fixed_for(t, kind);

	cache_list_state(t->cache, kind, &ls);
	if (count)
		*count = l ? (uint32_t)l->n : ls.complete ? ls.count : 0;
	return ls.complete ? ls.fetched_ns : 0;
}

static int count_entry(void *ctx, const char *name, size_t len, const void *rec)
{
	(void)name, (void)len, (void)rec;
	(*(nlink_t *)ctx)++;
	return 0;
}

/* The text of an attachment in links mode: an internet shortcut. */
static char *link_text(struct tree *t, const struct att_rec *r, size_t *len)
{
	char *text;
	int n;

	if (r->kind == ATT_HOSTED)
		n = asprintf(&text, "[InternetShortcut]\r\nURL=%s/%s\r\n",
			     graph_base(t->graph), r->source);
	else
		n = asprintf(&text, "[InternetShortcut]\r\nURL=%s\r\n",
			     r->source);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

static int links_mode(struct tree *t)
{
	return t->opts->attachments && !strcmp(t->opts->attachments, "links");
}

/*
 * Finds attachment @p: its message's file name into @msg, its record into
 * @r.  In links mode, "<name>.url" is the link to attachment <name>.
 */
static int find_att(struct tree *t, const struct path *p, char *msg,
		    struct att_rec *r, int64_t *dir_mtime)
{
	uint64_t sh = cache_scope_hash(p->kind, p->owner);
	int rc =
		cache_attdir_get(t->cache, sh, p->cont, p->msg, msg, dir_mtime);
	char base[NAME_MAX_BYTES + 1];

	if (rc)
		return rc;
	rc = cache_att_get(t->cache, sh, p->cont, msg, p->att, r);
	if (rc != -ENOENT || !links_mode(t) || !ends_with(p->att, link_suffix))
		return rc;
	snprintf(base, sizeof(base), "%.*s",
		 (int)(strlen(p->att) - strlen(link_suffix)), p->att);
	rc = cache_att_get(t->cache, sh, p->cont, msg, base, r);
	if (!rc && r->kind == ATT_INLINE) {
		cache_att_rec_free(r);
		rc = -ENOENT;
	}
	return rc;
}

/* Size and mtime of an attachment, asking Graph the first time. */
static int att_size(struct tree *t, const struct path *p, const char *msg,
		    struct att_rec *r, jobs_cancel_fn cancel, void *arg)
{
	uint64_t sh = cache_scope_hash(p->kind, p->owner);
	char what[NAME_MAX_BYTES * 4 + 64], type[128];
	struct json_object *item = NULL, *v;
	struct fetch_file *ff;
	long long size;
	char *path;
	int rc = 0;

	if (links_mode(t) && r->kind != ATT_INLINE) {
		size_t len;
		char *text = link_text(t, r, &len);

		free(text);
		r->size = text ? (int64_t)len : 0;
		return text ? 0 : -ENOMEM;
	}
	if (r->size >= 0)
		return 0;
	snprintf(what, sizeof(what), "attachment %s of %s in %s/%s/%s/%s",
		 p->att, msg, p->kind == 'u' ? "users" : "teams", p->owner,
		 scope_dir(p->kind), p->cont);
	if (r->kind == ATT_REFERENCE) {
		path = attach_shares_path(r->source, 0);
		if (!path)
			return -ENOMEM;
		rc = t->opts->offline
			     ? -EIO
			     : graph_get_object(t->graph, path, what, &item);
		free(path);
		if (rc)
			return rc == -ENOENT ? -EIO : rc;
		if (!json_object_object_get_ex(item, "size", &v)) {
			log_error("%s: Graph gave no size for it", what);
			json_object_put(item);
			return -EIO;
		}
		r->size = json_object_get_int64(v);
		if (json_object_object_get_ex(item, "lastModifiedDateTime", &v))
			render_parse_time(json_object_get_string(v),
					  &r->mtime_ns);

		json_object_put(item);
	} else if (!t->opts->offline &&
		   !(rc = graph_head(t->graph, r->source, what, &size, type,
				     sizeof(type)))) {
		/* Size and type without the bytes: ls -l downloads nothing */
		r->size = size;
		if (type[0]) {
			free(r->content_type);
			r->content_type = strdup(type);
		}
	} else {
		if (rc && rc != -ENOTSUP)
			return rc == -ENOENT ? -EIO : rc;
		rc = fetch_open(t->fetcher, r->source, what, &ff);
		if (rc)
			return rc;
		size = fetch_size(ff, cancel, arg);
		if (size >= 0 && fetch_content_type(ff)) {
			free(r->content_type);
			r->content_type = strdup(fetch_content_type(ff));
		}
		fetch_close(ff);
		if (size < 0)
			return size == -ENOENT ? -EIO : (int)size;
		r->size = size;
	}
	return cache_att_set_meta(t->cache, sh, p->cont, msg, p->att, r->size,
				  r->mtime_ns, r->content_type);
}

/*
 * Fills @st for transcript file @p, rendering it if needed; with @fd, also
 * opens it.
 */
static int transcript_stat(struct tree *t, const struct path *p,
			   struct stat *st, int *fd)
{
	char cont[NAME_MAX_BYTES + 1];
	enum transcript_format fmt;
	struct transcript_info info;
	int rc = transcript_name(p->cont, cont, &fmt);

	if (!rc)
		rc = transcript_get(t->transcripts, p->kind, p->owner, cont,
				    fmt, &info, fd);
	if (!rc && st)
		fill(t, st, tree_ino(p), 0, 1, info.size, info.mtime_ns);
	return rc;
}

int tree_stat(struct tree *t, const struct path *p, struct stat *st,
	      int *settled, jobs_cancel_fn cancel, void *arg)
{
	uint64_t ino = tree_ino(p);
	uint64_t sh = p->owner ? cache_scope_hash(p->kind, p->owner) : 0;
	char msg[NAME_MAX_BYTES + 1], *id;
	struct scope_rec sr;
	struct cont_rec cr;
	struct msg_stat ms;
	struct att_rec ar;
	uint32_t count;
	nlink_t nl = 2;
	int64_t tm, t2;
	int rc;

	*settled = 1;
	if (p->type >= NODE_TR_ROOT && t->opts->no_transcripts)
		return -ENOENT;
	switch (p->type) {
	case NODE_ROOT:
	case NODE_BN_ROOT:
	case NODE_TR_ROOT:
		tm = list_time(t, 'u', NULL);
		t2 = list_time(t, 't', NULL);
		*settled = tm && t2;
		fill(t, st, ino, 1,
		     p->type != NODE_ROOT      ? 4
		     : t->opts->no_transcripts ? 5
					       : 6,
		     0, tm > t2 ? tm : t2);
		/* Lists arriving must not look like a change to tar. */
		set_time(&st->st_ctim, cache_created(t->cache));
		return 0;
	case NODE_BN_LIST:
		tm = list_time(t, p->kind, NULL);
		*settled = tm != 0;
		fill(t, st, ino, 1, 2, 0, tm);
		st->st_nlink = 1; /* subdirectories not counted: unknown */
		set_time(&st->st_ctim, cache_created(t->cache));
		return 0;
	case NODE_BN_OWNER:
		rc = byname_owner(t->byname, p->kind, p->owner, msg, cancel,
				  arg);
		if (!rc)
			fill(t, st, ino, 1, 2, 0, list_time(t, p->kind, NULL));
		return rc;
	case NODE_BN_LINK:
		rc = tree_readlink(t, p, msg, sizeof(msg), cancel, arg);
		if (!rc) {
			fill(t, st, ino, 0, 1, strlen(msg),
			     list_time(t, p->kind, NULL));
			st->st_mode = S_IFLNK | 0777;
		}
		return rc;
	case NODE_LIST:
	case NODE_TR_LIST:
		tm = list_time(t, p->kind, &count);
		*settled = tm || fixed_for(t, p->kind);
		fill(t, st, ino, 1, 2 + count, 0, tm);
		set_time(&st->st_ctim, cache_created(t->cache));
		return 0;
	case NODE_OWNER:
	case NODE_SCOPE:
	case NODE_TR_OWNER:
		rc = owner_id(t, p->kind, p->owner, &id, cancel, arg);
		if (rc)
			return rc;
		free(id);
		rc = cache_scope_get(t->cache, p->kind, p->owner, &sr);
		if (rc)
			return rc;
		free(sr.next_link);
		*settled = (sr.flags & SCOPE_COMPLETE) != 0;
		tm = *settled ? sr.newest_ns : list_time(t, p->kind, NULL);
		fill(t, st, ino, 1,
		     p->type == NODE_OWNER   ? 3
		     : p->type == NODE_SCOPE ? 2 + sr.containers
					     : 2,
		     0, tm);
		/*
		 * The first crawl moves mtime from the list's time to the
		 * newest message's.  ctime stays, so that tar, which stats a
		 * directory before and after reading it, sees no change.
		 */
		set_time(&st->st_ctim, list_time(t, p->kind, NULL));
		return 0;
	case NODE_CONT:
		rc = ensure_scope(t, p, cancel, arg);
		if (!rc)
			rc = cache_cont_get(t->cache, sh, p->cont, &cr);
		if (!rc)
			rc = cache_attdir_foreach(t->cache, sh, p->cont,
						  count_entry, &nl);
		if (!rc)
			fill(t, st, ino, 1, nl, 0, cr.newest_ns);
		return rc;
	case NODE_MSG:
		rc = cache_msg_stat(t->cache, sh, p->cont, p->msg, &ms);
		if (!rc)
			fill(t, st, ino, 0, 1, ms.size, ms.mtime_ns);
		return rc;
	case NODE_ATTDIR:
		rc = cache_attdir_get(t->cache, sh, p->cont, p->msg, msg, &tm);
		if (!rc)
			fill(t, st, ino, 1, 2, 0, tm);
		return rc;
	case NODE_ATT:
		rc = find_att(t, p, msg, &ar, &tm);
		if (rc)
			return rc;
		rc = att_size(t, p, msg, &ar, cancel, arg);
		if (!rc)
			fill(t, st, ino, 0, 1, (uint64_t)ar.size, ar.mtime_ns);
		cache_att_rec_free(&ar);
		return rc;
	case NODE_TR_FILE:
		/*
		 * Never cached by the kernel: a chat shared with other scopes
		 * changes through their refreshes too, and the size must be
		 * the one read.  Checking costs a walk of the chat's records.
		 */
		*settled = 0;
		rc = ensure_scope(t, p, cancel, arg);
		if (!rc)
			rc = transcript_stat(t, p, st, NULL);
		return rc;
	}
	return -ENOENT;
}

static int listing_add(struct listing *l, const char *name, size_t len,
		       const struct stat *st)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct listing_entry *p = realloc(l->ents, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->ents = p;
		l->cap = cap;
	}
	if (l->names_len + len + 1 > l->names_cap) {
		size_t cap = l->names_cap ? l->names_cap * 2 : 4096;
		char *p;

		while (cap < l->names_len + len + 1)
			cap *= 2;
		p = realloc(l->names, cap);
		if (!p)
			return -ENOMEM;
		l->names = p;
		l->names_cap = cap;
	}
	memcpy(l->names + l->names_len, name, len);
	l->names[l->names_len + len] = '\0';
	l->ents[l->n] = (struct listing_entry){
		.ino = st->st_ino,
		.size = (uint64_t)st->st_size,
		.mtime_ns = time_ns(&st->st_mtim),
		.ctime_ns = time_ns(&st->st_ctim),
		.mode = st->st_mode,
		.nlink = (uint32_t)st->st_nlink,
		.name_off = (uint32_t)l->names_len,
	};
	l->n++;
	l->names_len += len + 1;
	return 0;
}

void tree_listing_free(struct listing *l)
{
	free(l->ents);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

void tree_listing_stat(const struct tree *t, const struct listing_entry *e,
		       struct stat *st)
{
	memset(st, 0, sizeof(*st));
	if (!e->ino) {
		st->st_mode = e->mode;
		return;
	}
	fill(t, st, e->ino, 0, e->nlink, e->size, e->mtime_ns);
	st->st_mode = e->mode;
	set_time(&st->st_ctim, e->ctime_ns);
}

/* Carries a cache walk into a listing. */
struct list_walk {
	struct tree *t;
	const struct path *dir;
	struct listing *l;
	int rc;
	const char *owner; /* /by-name: the owner's file name */
};

static int list_entry(void *ctx, const char *name, size_t len, const void *rec)
{
	struct list_walk *w = ctx;
	char buf[NAME_MAX_BYTES + sizeof(link_suffix)];
	struct path c;
	struct stat st;
	int settled;

	if (len > NAME_MAX_BYTES)
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (tree_child(w->dir, buf, &c))
		return 0;
	switch (c.type) {
	case NODE_OWNER:
	case NODE_TR_OWNER:
		/* Reads the scope record; no network once the list is in. */
		w->rc = tree_stat(w->t, &c, &st, &settled, NULL, NULL);
		break;
	case NODE_CONT:
		fill(w->t, &st, tree_ino(&c), 1, 2, 0,
		     ((const struct cont_rec *)rec)->newest_ns);
		st.st_nlink = 0; /* known only on stat */
		break;
	case NODE_MSG: {
		const struct msg_stat *ms = rec;

		fill(w->t, &st, tree_ino(&c), 0, 1, ms->size, ms->mtime_ns);
		break;
	}
	case NODE_ATTDIR:
		fill(w->t, &st, tree_ino(&c), 1, 2, 0, *(const int64_t *)rec);
		break;
	case NODE_ATT: {
		const struct att_rec *r = rec;

		if (links_mode(w->t) && r->kind != ATT_INLINE) {
			if (len + sizeof(link_suffix) >
			    (size_t)NAME_MAX_BYTES + 1)
				return 0;
			strcat(buf, link_suffix);
			len += sizeof(link_suffix) - 1;
			c.att = buf;
			memset(&st, 0, sizeof(st)); /* its size: on stat */
		} else if (r->size >= 0) {
			fill(w->t, &st, tree_ino(&c), 0, 1, (uint64_t)r->size,
			     r->mtime_ns);
		} else {
			/* Listing must not call Graph: attributes on stat */
			memset(&st, 0, sizeof(st));
			st.st_mode = S_IFREG;
		}
		if (!st.st_mode)
			st.st_mode = S_IFREG;
		break;
	}
	default:
		return 0;
	}
	if (!w->rc)
		w->rc = listing_add(w->l, buf, len, &st);
	return w->rc;
}

/* Adds the two transcripts of a container to a listing. */
static int transcript_entry(void *ctx, const char *name, size_t len,
			    const void *rec)
{
	struct list_walk *w = ctx;
	char buf[NAME_MAX_BYTES + 8];
	struct stat st;

	(void)rec;
	for (int k = 0; k < 2 && !w->rc; k++) {
		if (len + strlen(transcript_ext[k]) > NAME_MAX_BYTES)
			continue;
		snprintf(buf, sizeof(buf), "%.*s%s", (int)len, name,
			 transcript_ext[k]);
		/* Sizes come on stat: listing renders nothing. */
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFREG;
		w->rc = listing_add(w->l, buf, strlen(buf), &st);
	}
	return w->rc;
}

/* Adds a /by-name entry: a directory of an owner or a link to a chat. */
static int byname_entry(void *ctx, const char *readable, const char *target)
{
	struct list_walk *w = ctx;
	struct cont_rec cr;
	struct path c;
	struct stat st;
	int64_t tm = list_time(w->t, w->dir->kind, NULL);

	if (tree_child(w->dir, readable, &c))
		return 0;
	fill(w->t, &st, tree_ino(&c), c.type == NODE_BN_OWNER, 2, 0, tm);
	if (c.type != NODE_BN_LINK)
		return listing_add(w->l, readable, strlen(readable), &st);
	st.st_mode = S_IFLNK | 0777;
	st.st_nlink = 0; /* size known on stat */
	w->rc = listing_add(w->l, readable, strlen(readable), &st);
	/*
	 * Beside each chat the cache has messages of, links to its
	 * transcripts (a chat with none has no transcript).
	 */
	if (w->rc || !w->owner || w->t->opts->no_transcripts ||
	    cache_cont_get(w->t->cache, cache_scope_hash(c.kind, w->owner),
			   target, &cr))
		return w->rc;
	for (int k = 0; k < 2 && !w->rc; k++) {
		size_t n = strlen(readable), e = strlen(transcript_ext[k]);
		char name[NAME_MAX_BYTES + 1];

		if (n + e > NAME_MAX_BYTES)
			break;
		memcpy(name, readable, n);
		memcpy(name + n, transcript_ext[k], e + 1);
		w->rc = listing_add(w->l, name, n + e, &st);
	}
	return w->rc;
}

/* Adds the one entry of a fixed directory, with its attributes. */
static int list_fixed(struct tree *t, const struct path *dir, const char *name,
		      struct listing *l)
{
	struct path c;
	struct stat st;
	int settled, rc = tree_child(dir, name, &c);

	if (!rc)
		rc = tree_stat(t, &c, &st, &settled, NULL, NULL);
	return rc ? rc : listing_add(l, name, strlen(name), &st);
}

int tree_opendir(struct tree *t, const struct path *p, jobs_cancel_fn cancel,
		 void *arg)
{
	switch (p->type) {
	case NODE_LIST:
	case NODE_TR_LIST:
		return fixed_for(t, p->kind)
			       ? 0
			       : crawl_list(t->crawler, p->kind, cancel, arg);
	case NODE_SCOPE:
	case NODE_TR_OWNER:
		return ensure_scope(t, p, cancel, arg);
	default:
		return 0;
	}
}

int tree_list(struct tree *t, const struct path *p, struct listing *l,
	      jobs_cancel_fn cancel, void *arg)
{
	struct list_walk w = {t, p, l, 0, NULL};
	uint64_t sh = p->owner ? cache_scope_hash(p->kind, p->owner) : 0;
	struct fixed_list *fl;
	char msg[NAME_MAX_BYTES + 1], *id = NULL;
	int64_t tm;
	int rc = 0;

	switch (p->type) {
	case NODE_ROOT:
		rc = list_fixed(t, p, "users", l);
		if (!rc)
			rc = list_fixed(t, p, "teams", l);
		if (!rc)
			rc = list_fixed(t, p, "by-name", l);
		if (!rc && !t->opts->no_transcripts)
			rc = list_fixed(t, p, "transcripts", l);
		return rc;
	case NODE_BN_ROOT:
	case NODE_TR_ROOT:
		rc = list_fixed(t, p, "users", l);
		return rc ? rc : list_fixed(t, p, "teams", l);
	case NODE_BN_LIST:
		return byname_owners(t->byname, p->kind, byname_entry, &w,
				     cancel, arg);
	case NODE_BN_OWNER:
		rc = byname_owner(t->byname, p->kind, p->owner, msg, cancel,
				  arg);
		if (!rc)
			rc = owner_id(t, p->kind, msg, &id, cancel, arg);
		if (!rc) {
			w.owner = msg;
			rc = byname_conts(t->byname, p->kind, msg, id,
					  byname_entry, &w, cancel, arg);
			free(id);
		}
		return rc;
	case NODE_LIST:
	case NODE_TR_LIST:
		fl = fixed_for(t, p->kind);
		if (fl) {
			for (int i = 0; i < fl->n && !w.rc; i++)
				list_entry(&w, fl->names[i],
					   strlen(fl->names[i]), NULL);
			return w.rc;
		}
		rc = crawl_list(t->crawler, p->kind, cancel, arg);
		if (!rc)
			rc = cache_list_foreach(t->cache, p->kind, list_entry,
						&w);
		break;
	case NODE_OWNER:
		return list_fixed(t, p, scope_dir(p->kind), l);
	case NODE_SCOPE:
		rc = ensure_scope(t, p, cancel, arg);
		if (!rc)
			rc = cache_cont_foreach(t->cache, sh, list_entry, &w);
		break;
	case NODE_TR_OWNER:
		rc = ensure_scope(t, p, cancel, arg);
		if (!rc)
			rc = cache_cont_foreach(t->cache, sh, transcript_entry,
						&w);
		break;
	case NODE_CONT:
		rc = cache_msg_foreach(t->cache, sh, p->cont, list_entry, &w);
		if (!rc && !w.rc)
			rc = cache_attdir_foreach(t->cache, sh, p->cont,
						  list_entry, &w);
		break;
	case NODE_ATTDIR:
		rc = cache_attdir_get(t->cache, sh, p->cont, p->msg, msg, &tm);
		if (!rc)
			rc = cache_att_foreach(t->cache, sh, p->cont, msg,
					       list_entry, &w);
		break;
	default:
		return -ENOTDIR;
	}
	return rc ? rc : w.rc;
}

int tree_open(struct tree *t, const struct path *p, struct tree_file *f,
	      jobs_cancel_fn cancel, void *arg)
{
	uint64_t sh = p->owner ? cache_scope_hash(p->kind, p->owner) : 0;
	char msg[NAME_MAX_BYTES + 1], what[NAME_MAX_BYTES * 4 + 64], *path;
	struct att_rec r;
	int64_t tm;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (p->type == NODE_TR_FILE || p->type == NODE_MSG) {
		struct stat st;
		int settled;

		/* Its size and mtime as opened, then its bytes. */
		rc = tree_stat(t, p, &st, &settled, cancel, arg);
		if (!rc && p->type == NODE_TR_FILE)
			rc = transcript_stat(t, p, &st, &f->fd);
		else if (!rc)
			rc = cache_msg_read(t->cache, sh, p->cont, p->msg,
					    &f->data, &f->len);
		f->changes = 1;
		f->size = (uint64_t)st.st_size;
		f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			      st.st_mtim.tv_nsec;
		return rc;
	}
	if (p->type != NODE_ATT)
		return -EISDIR;
	rc = find_att(t, p, msg, &r, &tm);
	if (rc)
		return rc;
	if (r.kind == ATT_INLINE) {
		rc = cache_att_read(t->cache, sh, p->cont, msg, p->att,
				    &f->data, &f->len);
	} else if (links_mode(t)) {
		f->data = link_text(t, &r, &f->len);
		rc = f->data ? 0 : -ENOMEM;
	} else {
		snprintf(what, sizeof(what),
			 "attachment %s of %s in %s/%s/%s/%s", p->att, msg,
			 p->kind == 'u' ? "users" : "teams", p->owner,
			 scope_dir(p->kind), p->cont);
		path = r.kind == ATT_REFERENCE ? attach_shares_path(r.source, 1)
					       : strdup(r.source);
		rc = path ? fetch_open(t->fetcher, path, what, &f->fetch)
			  : -ENOMEM;
		free(path);
	}
	cache_att_rec_free(&r);
	return rc;
}

ssize_t tree_read(struct tree_file *f, char *buf, size_t size, off_t off,
		  jobs_cancel_fn cancel, void *arg)
{
	ssize_t n;
	size_t got = 0;

	if (f->fd >= 0) {
		/* A rendered transcript: never a short read before its end. */
		while (got < size) {
			n = pread(f->fd, buf + got, size - got,
				  off + (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (!n)
				break;
			got += (size_t)n;
		}
		return (ssize_t)got;
	}
	if (f->fetch) {
		n = fetch_read(f->fetch, buf, size, off, cancel, arg);
		return n == -ENOENT ? -EIO : n;
	}
	if (off < 0 || (size_t)off >= f->len)
		return 0;
	if (size > f->len - (size_t)off)
		size = f->len - (size_t)off;
	memcpy(buf, f->data + off, size);
	return (ssize_t)size;
}

void tree_close(struct tree_file *f)
{
	free(f->data);
	fetch_close(f->fetch);
	if (f->fd >= 0)
		close(f->fd);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

/* Appends attribute @name = @value to the reply being built. */
struct xattrs {
	const char *want; /* NULL: list the names */
	char *buf;
	size_t size, len;
	int found;
};

static void xattr_put(struct xattrs *x, const char *name, const char *value)
{
	size_t n;

	if (!value)
		return;
	if (x->want) {
		if (strcmp(x->want, name) || x->found)
			return;
		x->found = 1;
		n = strlen(value);
		if (x->size && n <= x->size)
			memcpy(x->buf, value, n);
		x->len = n;
		return;
	}
	n = strlen(name) + 1;
	if (x->size && x->len + n <= x->size)
		memcpy(x->buf + x->len, name, n);
	x->len += n;
}

static const char *json_str(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;

	while (o && (dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path = dot + 1;
	}
	if (!o || !json_object_object_get_ex(o, path, &o) ||
	    !json_object_is_type(o, json_type_string))
		return NULL;
	return json_object_get_string(o);
}

static void message_xattrs(struct json_object *m, struct xattrs *x)
{
	const char *sender = json_str(m, "from.user.displayName");
	struct json_object *del;

	if (!sender)
		sender = json_str(m, "from.application.displayName");
	xattr_put(x, "user.teamsfs.id", json_str(m, "id"));
	xattr_put(x, "user.teamsfs.sender", sender);
	xattr_put(x, "user.teamsfs.created", json_str(m, "createdDateTime"));
	xattr_put(x, "user.teamsfs.modified",
		  json_str(m, "lastModifiedDateTime"));
	xattr_put(x, "user.teamsfs.type", json_str(m, "messageType"));
	xattr_put(x, "user.teamsfs.deleted",
		  json_object_object_get_ex(m, "deletedDateTime", &del) &&
				  !json_object_is_type(del, json_type_null)
			  ? "yes"
			  : "no");
	xattr_put(x, "user.teamsfs.web_url", json_str(m, "webUrl"));
}

/* The xattrs of a chat or channel directory, from its description. */
static void container_xattrs(const char *meta, struct xattrs *x)
{
	struct json_object *m = json_tokener_parse(meta), *members;
	char list[1024] = "";
	size_t used = 0;

	if (!m)
		return;
	xattr_put(x, "user.teamsfs.chat_type", json_str(m, "chatType"));
	xattr_put(x, "user.teamsfs.topic", json_str(m, "topic"));
	xattr_put(x, "user.teamsfs.display_name", json_str(m, "displayName"));
	xattr_put(x, "user.teamsfs.membership_type",
		  json_str(m, "membershipType"));
	if (json_object_object_get_ex(m, "members", &members) &&
	    json_object_is_type(members, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(members) &&
				   used < sizeof(list) - 1;
		     i++)
			used += (size_t)snprintf(
				list + used, sizeof(list) - used, "%s%s",
				used ? ", " : "",
				json_object_get_string(
					json_object_array_get_idx(members, i)));
		xattr_put(x, "user.teamsfs.members", list);
	}
	json_object_put(m);
}

static const char *kind_name(int kind)
{
	return kind == ATT_REFERENCE ? "reference"
	       : kind == ATT_HOSTED  ? "hostedContent"
				     : "inline";
}

ssize_t tree_xattr(struct tree *t, const struct path *p, const char *name,
		   char *buf, size_t size)
{
	struct xattrs x = {name, buf, size, 0, 0};
	uint64_t sh = p->owner ? cache_scope_hash(p->kind, p->owner) : 0;
	char msg[NAME_MAX_BYTES + 1], *url = NULL;
	struct json_object *m;
	struct att_rec r;
	size_t len;
	int64_t tm;
	char *data;
	int rc = 0;

	/*
	 * Only the user namespace is supported.  ls -l asks every file for its
	 * security label and ACL; EOPNOTSUPP (not ENODATA) for those makes it
	 * stop asking for the rest of the file system.
	 */
	if (name && strncmp(name, "user.", 5))
		return -EOPNOTSUPP;
	if (name && strncmp(name, "user.teamsfs.", 13))
		return -ENODATA;
	if (p->type == NODE_OWNER && !fixed_for(t, p->kind)) {
		struct list_entry e;

		rc = cache_list_get(t->cache, p->kind, p->owner, &e);
		if (rc)
			return rc;
		xattr_put(&x, "user.teamsfs.id", e.id);
		xattr_put(&x, "user.teamsfs.display_name", e.display);
		cache_list_entry_free(&e);
	} else if (p->type == NODE_CONT) {
		char *id = NULL, *owner_gid = NULL, *meta = NULL;

		rc = cache_cont_id(t->cache, sh, p->cont, &id);
		if (rc)
			return rc;
		xattr_put(&x, "user.teamsfs.id", id);
		free(id);
		/* Type, topic and members come with the readable names. */
		if (!owner_id(t, p->kind, p->owner, &owner_gid, NULL, NULL) &&
		    !byname_cont_meta(t->byname, p->kind, p->owner, owner_gid,
				      p->cont, &meta, NULL, NULL))
			container_xattrs(meta, &x);
		free(owner_gid);
		free(meta);
	} else if (p->type == NODE_MSG) {
		rc = cache_msg_json(t->cache, sh, p->cont, p->msg, &data, &len);
		if (rc)
			return rc;
		m = json_tokener_parse(data);
		free(data);
		message_xattrs(m, &x);
		json_object_put(m);
	} else if (p->type == NODE_ATT) {
		rc = find_att(t, p, msg, &r, &tm);
		if (rc)
			return rc;
		if (r.kind == ATT_HOSTED &&
		    asprintf(&url, "%s/%s", graph_base(t->graph), r.source) < 0)
			url = NULL;
		xattr_put(&x, "user.teamsfs.kind", kind_name(r.kind));
		xattr_put(&x, "user.teamsfs.content_type", r.content_type);
		xattr_put(&x, "user.teamsfs.id", r.id);
		xattr_put(&x, "user.teamsfs.url", url ? url : r.source);
		free(url);
		cache_att_rec_free(&r);
	}
	if (name && !x.found)
		return -ENODATA;
	if (size && x.len > size)
		return -ERANGE;
	return (ssize_t)x.len;
}

void tree_statfs(struct tree *t, struct statvfs *sv)
{
	unsigned long long count = 0;
	long long bytes = 0;

	memset(sv, 0, sizeof(*sv));
	cache_msg_count(t->cache, &count);
	cache_size(t->cache, &bytes);
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (fsblkcnt_t)((bytes + 4095) / 4096);
	sv->f_files = (fsfilcnt_t)count;
	sv->f_namemax = NAME_MAX_BYTES;
}

int tree_readlink(struct tree *t, const struct path *p, char *buf, size_t size,
		  jobs_cancel_fn cancel, void *arg)
{
	char owner[NAME_MAX_BYTES + 1], cont[NAME_MAX_BYTES + 1], *id;
	struct cont_rec cr;
	int rc;

	if (p->type != NODE_BN_LINK)
		return -EINVAL;
	rc = byname_owner(t->byname, p->kind, p->owner, owner, cancel, arg);
	if (!rc)
		rc = owner_id(t, p->kind, owner, &id, cancel, arg);
	if (rc)
		return rc;
	rc = byname_cont(t->byname, p->kind, owner, id, p->cont, cont, cancel,
			 arg);
	/* "<chat name>.html" and ".txt" lead to the chat's transcripts. */
	for (int k = 0; rc == -ENOENT && !t->opts->no_transcripts && k < 2;
	     k++) {
		char base[NAME_MAX_BYTES + 1];
		size_t n = strlen(p->cont), e = strlen(transcript_ext[k]);

		if (n <= e || strcmp(p->cont + n - e, transcript_ext[k]))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(n - e), p->cont);
		rc = byname_cont(t->byname, p->kind, owner, id, base, cont,
				 cancel, arg);
		if (!rc &&
		    cache_cont_get(t->cache, cache_scope_hash(p->kind, owner),
				   cont, &cr))
			rc = -ENOENT; /* no messages, no transcript */
		if (!rc) {
			free(id);
			if ((size_t)snprintf(buf, size,
					     "../../../transcripts/%s/%s/%s%s",
					     p->kind == 'u' ? "users" : "teams",
					     owner, cont,
					     transcript_ext[k]) >= size)
				return -ENAMETOOLONG;
			return 0;
		}
	}
	free(id);
	if (rc)
		return rc;
	if ((size_t)snprintf(buf, size, "../../../%s/%s/%s/%s",
			     p->kind == 'u' ? "users" : "teams", owner,
			     scope_dir(p->kind), cont) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int tree_refresh(struct tree *t, const struct path *p, jobs_cancel_fn cancel,
		 void *arg)
{
	char owner[NAME_MAX_BYTES + 1], *id = NULL;
	const char *name = p->owner;
	int rc = 0;

	switch (p->type) {
	case NODE_ROOT:
	case NODE_LIST:
	case NODE_BN_ROOT:
	case NODE_BN_LIST:
	case NODE_TR_ROOT:
	case NODE_TR_LIST:
		/* The lists, and every scope due at its next access. */
		for (int k = 0; k < 2 && !rc; k++) {
			char kind = k ? 't' : 'u';

			if ((!p->kind || p->kind == kind) &&
			    !fixed_for(t, kind))
				rc = crawl_refresh_list(t->crawler, kind,
							cancel, arg);
		}
		if (!rc)
			crawl_mark_stale(t->crawler);
		return rc;
	case NODE_BN_OWNER:
	case NODE_BN_LINK:
		rc = byname_owner(t->byname, p->kind, p->owner, owner, cancel,
				  arg);
		name = owner;
		break;
	default:
		break;
	}
	if (!rc)
		rc = owner_id(t, p->kind, name, &id, cancel, arg);
	if (!rc)
		rc = crawl_refresh_scope(t->crawler, p->kind, name, id, cancel,
					 arg);
	free(id);
	return rc;
}
