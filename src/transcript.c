/* transcript.c - rendering whole conversations into files, and keeping them */
#include "transcript.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cache.h"
#include "hash.h"
#include "html.h"
#include "log.h"
#include "names.h"
#include "present.h"
#include "render.h"
#include "spool.h"

struct transcripts {
	struct cache *cache;
	char *dir;
	pthread_mutex_t lock; /* one rendering at a time */
};

static const char *const suffix[] = {".html", ".txt"};

int transcripts_new(struct cache *c, const char *dir, struct transcripts **out)
{
	struct transcripts *tr = calloc(1, sizeof(*tr));
	int rc;

	if (!tr || !(tr->dir = strdup(dir))) {
		free(tr);
		return -ENOMEM;
	}
	rc = spool_open(dir, "transcript directory");
	if (rc) {
		free(tr->dir);
		free(tr);
		return rc;
	}
	tr->cache = c;
	pthread_mutex_init(&tr->lock, NULL);
	*out = tr;
	return 0;
}

void transcripts_free(struct transcripts *tr)
{
	if (!tr)
		return;
	pthread_mutex_destroy(&tr->lock);
	free(tr->dir);
	free(tr);
}

int transcript_name(const char *file, char *cont, enum transcript_format *fmt)
{
	size_t n = strlen(file);

	for (int f = 0; f < 2; f++) {
		size_t k = strlen(suffix[f]);

		if (n > k && n - k <= NAME_MAX_BYTES &&
		    !strcmp(file + n - k, suffix[f])) {
			memcpy(cont, file, n - k);
			cont[n - k] = '\0';
			*fmt = (enum transcript_format)f;
			return name_is_plausible(cont) ? 0 : -ENOENT;
		}
	}
	return -ENOENT;
}

/* The file names of one container: "<hash>-" then the state it shows. */
static uint64_t cont_hash(char kind, const char *owner, const char *cont)
{
	uint64_t h = hash_update(HASH_SEED, &kind, 1);

	h = hash_update(h, owner, strlen(owner) + 1);
	return hash_final(hash_update(h, cont, strlen(cont) + 1));
}

/*
 * What a container holds now, as far as its transcript shows: its messages'
 * names and modification times, summed up.  A chat shared by several
 * scopes is stored once, so a message may change through another scope's
 * crawl: the messages, not the scope's container record, say when.
 */
struct cont_state {
	uint64_t messages;
	int64_t newest_ns;
	uint64_t digest;
};

static int add_state(void *ctx, const char *name, size_t len, const void *rec)
{
	struct cont_state *s = ctx;
	const struct msg_stat *ms = rec;
	uint64_t h = hash_update(HASH_SEED, name, len);

	h = hash_update(h, &ms->mtime_ns, sizeof(ms->mtime_ns));
	s->digest += hash_final(h); /* in any order */
	s->messages++;
	if (ms->mtime_ns > s->newest_ns)
		s->newest_ns = ms->mtime_ns;
	return 0;
}

static char *file_path(struct transcripts *tr, uint64_t h,
		       const struct cont_state *st, int fmt)
{
	char *path;

	if (asprintf(&path, "%s/%016llx-%016llx-%llu-%016llx%s", tr->dir,
		     (unsigned long long)h, (unsigned long long)st->newest_ns,
		     (unsigned long long)st->messages,
		     (unsigned long long)st->digest, suffix[fmt]) < 0)
		return NULL;
	return path;
}

/* One message in conversation order. */
struct entry {
	int64_t created_ns;
	int64_t thread_ns; /* its thread root's time, or its own */
	uint32_t name;	   /* offsets into the name arena */
	uint32_t id;	   /* UINT32_MAX: none */
	uint32_t thread;   /* id of the thread root, or its own name */
	int reply;
};

/* Display names of the senders, by user id. */
struct name_map {
	char **ids, **names;
	size_t n, cap; /* cap: a power of two */
};

struct order {
	struct entry *e;
	size_t n, cap;
	struct sbuf arena;
	struct name_map names;
};

static uint32_t arena_add(struct sbuf *a, const char *s, size_t len)
{
	uint32_t off = (uint32_t)a->len;

	sbuf_add(a, s, len);
	sbuf_add(a, "", 1);
	return off;
}

static size_t map_slot(const struct name_map *m, const char *id)
{
	size_t i = hash_bytes(id, strlen(id)) & (m->cap - 1);

	while (m->ids[i] && strcmp(m->ids[i], id))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int map_grow(struct name_map *m)
{
	struct name_map g = {0};

	g.cap = m->cap ? m->cap * 2 : 64;
	g.ids = calloc(g.cap, sizeof(*g.ids));
	g.names = calloc(g.cap, sizeof(*g.names));
	if (!g.ids || !g.names) {
		free(g.ids);
		free(g.names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->ids[i]) {
			size_t s = map_slot(&g, m->ids[i]);

			g.ids[s] = m->ids[i];
			g.names[s] = m->names[i];
		}
	g.n = m->n;
	free(m->ids);
	free(m->names);
	*m = g;
	return 0;
}

/* Remembers the name of the sender of @m; the first one seen stays. */
static void map_sender(struct name_map *m, struct json_object *msg)
{
	struct json_object *from, *user, *v;
	const char *id, *name;
	size_t s;

	if (!json_object_object_get_ex(msg, "from", &from) ||
	    !json_object_object_get_ex(from, "user", &user) ||
	    !json_object_object_get_ex(user, "id", &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	id = json_object_get_string(v);
	if (!json_object_object_get_ex(user, "displayName", &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	name = json_object_get_string(v);
	if (!*id || !*name || ((m->n + 1) * 2 > m->cap && map_grow(m)))
		return;
	s = map_slot(m, id);
	if (m->ids[s])
		return;
	m->ids[s] = strdup(id);
	m->names[s] = strdup(name);
	if (!m->ids[s] || !m->names[s]) {
		free(m->ids[s]);
		free(m->names[s]);
		m->ids[s] = m->names[s] = NULL;
		return;
	}
	m->n++;
}

static const char *map_name(void *ctx, const char *id)
{
	struct name_map *m = ctx;

	if (!m->cap)
		return NULL;
	return m->names[map_slot(m, id)];
}

static void order_free(struct order *o)
{
	for (size_t i = 0; i < o->names.cap; i++) {
		free(o->names.ids[i]);
		free(o->names.names[i]);
	}
	free(o->names.ids);
	free(o->names.names);
	free(o->e);
	sbuf_free(&o->arena);
}

static int collect_name(void *ctx, const char *name, size_t len,
			const void *rec)
{
	struct order *o = ctx;

	(void)rec;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 256;
		struct entry *e = realloc(o->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		o->e = e;
		o->cap = cap;
	}
	memset(&o->e[o->n], 0, sizeof(o->e[0]));
	o->e[o->n++].name = arena_add(&o->arena, name, len);
	return o->arena.oom ? -ENOMEM : 0;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Reads and parses stored message @name; NULL (logged) if it cannot be. */
static struct json_object *load(struct transcripts *tr, uint64_t sh,
				const char *cont, const char *name)
{
	struct json_object *m;
	size_t len;
	char *data;
	int rc = cache_msg_read(tr->cache, sh, cont, name, &data, &len);

	if (rc) {
		log_warning("transcript of %s: cannot read message %s: %s",
			    cont, name, strerror(-rc));
		return NULL;
	}
	m = json_tokener_parse(data);
	free(data);
	if (!m)
		log_warning("transcript of %s: message %s is not JSON", cont,
			    name);
	return m;
}

/* The facts ordering needs: times, id, thread, sender names. */
static int read_facts(struct transcripts *tr, uint64_t sh, const char *cont,
		      struct order *o)
{
	for (size_t i = 0; i < o->n; i++) {
		struct entry *e = &o->e[i];
		struct json_object *m =
			load(tr, sh, cont, o->arena.data + e->name);
		const char *s;

		e->id = UINT32_MAX;
		e->thread = e->name;
		if (!m)
			continue;
		if ((!(s = str_of(m, "createdDateTime")) ||
		     render_parse_time(s, &e->created_ns)) &&
		    (s = str_of(m, "lastModifiedDateTime")))
			render_parse_time(s, &e->created_ns);
		e->thread_ns = e->created_ns;
		if ((s = str_of(m, "id")) && *s)
			e->id = e->thread = arena_add(&o->arena, s, strlen(s));
		if ((s = str_of(m, "replyToId")) && *s) {
			e->thread = arena_add(&o->arena, s, strlen(s));
			e->reply = 1;
		}
		map_sender(&o->names, m);
		json_object_put(m);
		if (o->arena.oom)
			return -ENOMEM;
	}
	return 0;
}

static const char *arena; /* for the sort comparisons below */

static int by_id(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a;
	const struct entry *y = *(struct entry *const *)b;

	return strcmp(arena + x->id, arena + y->id);
}

static int by_conversation(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c;

	if (x->thread_ns != y->thread_ns)
		return x->thread_ns < y->thread_ns ? -1 : 1;
	c = strcmp(arena + x->thread, arena + y->thread);
	if (c)
		return c;
	if (x->reply != y->reply)
		return x->reply - y->reply;
	if (x->created_ns != y->created_ns)
		return x->created_ns < y->created_ns ? -1 : 1;
	return strcmp(arena + x->name, arena + y->name);
}

static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

/* Puts replies under their roots and everything in conversation order. */
static int sort_entries(struct order *o)
{
	struct entry **ids = malloc((o->n + 1) * sizeof(*ids));
	size_t k = 0;

	if (!ids)
		return -ENOMEM;
	pthread_mutex_lock(&sort_lock);
	arena = o->arena.data;
	for (size_t i = 0; i < o->n; i++)
		if (o->e[i].id != UINT32_MAX)
			ids[k++] = &o->e[i];
	qsort(ids, k, sizeof(*ids), by_id);
	for (size_t i = 0; i < o->n; i++) {
		struct entry *e = &o->e[i], key = {.id = e->thread}, *kp = &key,
			     **root;

		if (!e->reply)
			continue;
		root = bsearch(&kp, ids, k, sizeof(*ids), by_id);
		if (root && !(*root)->reply && *root != e)
			e->thread_ns = (*root)->created_ns;
		else if (root && *root == e)
			e->reply = 0; /* its own root */
	}
	qsort(o->e, o->n, sizeof(*o->e), by_conversation);
	pthread_mutex_unlock(&sort_lock);
	free(ids);
	return 0;
}

/* A file being written under a temporary name. */
struct out_file {
	char *tmp;
	FILE *f;
};

static int out_open(struct transcripts *tr, struct out_file *o)
{
	int fd;

	if (asprintf(&o->tmp, "%s/tmp-XXXXXX", tr->dir) < 0) {
		o->tmp = NULL;
		return -ENOMEM;
	}
	fd = mkstemp(o->tmp);
	if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
		int rc = -errno;

		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		free(o->tmp);
		o->tmp = NULL;
		return rc;
	}
	return 0;
}

static int out_put(struct out_file *o, struct sbuf *b)
{
	int rc = 0;

	if (b->oom)
		rc = -ENOMEM;
	else if (b->len && fwrite(b->data, 1, b->len, o->f) != b->len)
		rc = -errno;
	b->len = 0;
	return rc;
}

/* Ends @o: synced and renamed to @path, or (@rc nonzero) removed. */
static int out_close(struct out_file *o, const char *path, int rc)
{
	if (!o->f)
		return rc;
	if (!rc && (fflush(o->f) || fdatasync(fileno(o->f))))
		rc = -errno;
	if (fclose(o->f) && !rc)
		rc = -errno;
	if (!rc && rename(o->tmp, path))
		rc = -errno;
	if (rc)
		unlink(o->tmp);
	free(o->tmp);
	o->f = NULL;
	return rc;
}

static const char html_style[] =
	"body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;"
	"max-width:52em;padding:1em 1.5em;color:#222;background:#fff}\n"
	"header{border-bottom:1px solid #ccc;margin-bottom:1em}\n"
	"h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.05em;margin:.2em 0}\n"
	".msg{margin:.8em 0;padding:.3em .7em;border-left:3px solid #6264a7}\n"
	".reply{margin-left:2.5em;border-left-color:#b4b5d8}\n"
	".event{border-left-color:#aaa;color:#555;font-style:italic}\n"
	".gone .body,.note{color:#888}\n"
	".meta{margin:0 0 .2em;font-size:.85em;color:#555}\n"
	".from{font-weight:bold;color:#222}.edited,.deleted{font-style:italic}"
	"\n"
	".body{overflow-wrap:anywhere}.plain{white-space:pre-wrap}\n"
	".mention{font-weight:bold;color:#464775}\n"
	".files,.reactions{font-size:.85em;margin:.3em 0}\n";

/* Writes the heads of both files. */
static void heads(const char *title, const char *where, const struct order *o,
		  struct sbuf *h, struct sbuf *t)
{
	int64_t lo = o->n ? o->e[0].created_ns : 0, hi = lo;
	char first[40], last[40];
	struct sbuf line = {0};

	/* Replies make conversation order differ from time order. */
	for (size_t i = 1; i < o->n; i++) {
		lo = o->e[i].created_ns < lo ? o->e[i].created_ns : lo;
		hi = o->e[i].created_ns > hi ? o->e[i].created_ns : hi;
	}
	present_time(lo, first, sizeof(first));
	present_time(hi, last, sizeof(last));
	sbuf_addf(&line, "%zu message%s, %s to %s", o->n, o->n == 1 ? "" : "s",
		  first, last);
	sbuf_adds(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		     "<meta charset=\"utf-8\">\n"
		     "<meta http-equiv=\"Content-Security-Policy\" "
		     "content=\"default-src 'none'; style-src 'unsafe-inline'; "
		     "base-uri 'none'; form-action 'none'\">\n"
		     "<meta name=\"referrer\" content=\"no-referrer\">\n"
		     "<title>");
	sbuf_add_escaped(h, title, strlen(title));
	sbuf_addf(h,
		  "</title>\n<style>\n%s</style>\n</head>\n<body>\n"
		  "<header>\n<h1>",
		  html_style);
	sbuf_add_escaped(h, title, strlen(title));
	sbuf_adds(h, "</h1>\n<p>");
	sbuf_adds(h, "Messages and files in ");
	sbuf_add_escaped(h, where, strlen(where));
	sbuf_adds(h, "/<br>");
	sbuf_add_escaped(h, line.data, line.len);
	sbuf_adds(h, "</p>\n</header>\n<main>\n");

	sbuf_addf(t, "%s\nMessages and files in %s/\n%.*s\n", title, where,
		  (int)line.len, line.data);
	for (int i = 0; i < PRESENT_TEXT_WIDTH; i++)
		sbuf_adds(t, "=");
	sbuf_adds(t, "\n\n");
	sbuf_free(&line);
}

/* Renders both transcripts of one container to @paths. */
static int render(struct transcripts *tr, char kind, const char *owner,
		  const char *cont, char *const paths[2])
{
	uint64_t sh = cache_scope_hash(kind, owner);
	struct order o = {0};
	struct out_file f[2] = {{0}};
	struct sbuf b[2] = {{0}}, url = {0}, where = {0};
	char *title = NULL, *id = NULL;
	struct present p = {kind, NULL, map_name, &o.names};
	int rc;

	rc = cache_msg_foreach(tr->cache, sh, cont, collect_name, &o);
	if (!rc)
		rc = read_facts(tr, sh, cont, &o);
	if (!rc)
		rc = sort_entries(&o);
	for (int i = 0; !rc && i < 2; i++)
		rc = out_open(tr, &f[i]);
	if (rc)
		goto out;
	cache_cont_id(tr->cache, sh, cont, &id);
	if (asprintf(&title, "%s %s", kind == 'u' ? "Chat" : "Channel",
		     id ? id : cont) < 0) {
		title = NULL;
		rc = -ENOMEM;
		goto out;
	}
	sbuf_addf(&url, "../../../%s/", kind == 'u' ? "users" : "teams");
	present_url_segment(&url, owner);
	sbuf_addf(&url, "/%s/", kind == 'u' ? "chats" : "channels");
	present_url_segment(&url, cont);
	sbuf_adds(&url, "/");
	sbuf_addf(&where, "%s/%s/%s/%s", kind == 'u' ? "users" : "teams", owner,
		  kind == 'u' ? "chats" : "channels", cont);
	p.files_url = url.data;
	heads(title, where.data ? where.data : "", &o, &b[0], &b[1]);
	if (url.oom || where.oom)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i <= o.n; i++) {
		if (i < o.n) {
			const struct entry *e = &o.e[i];
			const char *name = o.arena.data + e->name;
			struct json_object *m = load(tr, sh, cont, name);

			if (!m)
				continue;
			present_html(&p, m, name, e->created_ns, e->reply,
				     &b[0]);
			present_text(&p, m, name, e->created_ns, e->reply,
				     &b[1]);
			json_object_put(m);
		} else {
			sbuf_adds(&b[0], "</main>\n</body>\n</html>\n");
		}
		for (int k = 0; !rc && k < 2; k++)
			rc = out_put(&f[k], &b[k]);
	}
out:
	for (int k = 0; k < 2; k++) {
		rc = out_close(&f[k], paths[k], rc);
		sbuf_free(&b[k]);
	}
	if (rc)
		log_error("cannot write the transcript of %s/%s/%s/%s: %s",
			  kind == 'u' ? "users" : "teams", owner,
			  kind == 'u' ? "chats" : "channels", cont,
			  strerror(-rc));
	sbuf_free(&url);
	sbuf_free(&where);
	free(title);
	free(id);
	order_free(&o);
	return rc;
}

/* Removes the files of container @h other than those at @keep. */
static void remove_stale(struct transcripts *tr, uint64_t h,
			 char *const keep[2])
{
	char prefix[24];
	DIR *d = opendir(tr->dir);
	struct dirent *e;

	if (!d)
		return;
	snprintf(prefix, sizeof(prefix), "%016llx-", (unsigned long long)h);
	while ((e = readdir(d))) {
		int kept = 0;

		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		for (int k = 0; k < 2; k++) {
			const char *base = strrchr(keep[k], '/') + 1;

			kept |= !strcmp(base, e->d_name);
		}
		if (!kept)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* Opens the file at @path if it exists; fills @info. */
static int try_open(const char *path, int64_t mtime_ns,
		    struct transcript_info *info, int *fd)
{
	struct stat st;
	int f = open(path, O_RDONLY | O_CLOEXEC);

	if (f < 0)
		return -errno;
	if (fstat(f, &st)) {
		int rc = -errno;

		close(f);
		return rc;
	}
	info->size = (uint64_t)st.st_size;
	info->mtime_ns = mtime_ns;
	if (fd)
		*fd = f;
	else
		close(f);
	return 0;
}

int transcript_get(struct transcripts *tr, char kind, const char *owner,
		   const char *cont, enum transcript_format fmt,
		   struct transcript_info *info, int *fd)
{
	uint64_t h = cont_hash(kind, owner, cont);
	uint64_t sh = cache_scope_hash(kind, owner);
	char *paths[2] = {NULL, NULL};
	struct cont_state r = {0};
	struct cont_rec cr;
	int rc = cache_cont_get(tr->cache, sh, cont, &cr);

	if (!rc)
		rc = cache_msg_foreach(tr->cache, sh, cont, add_state, &r);
	if (rc)
		return rc;
	for (int k = 0; k < 2; k++)
		if (!(paths[k] = file_path(tr, h, &r, k)))
			rc = -ENOMEM;
	if (!rc)
		rc = try_open(paths[fmt], r.newest_ns, info, fd);
	if (rc == -ENOENT) {
		pthread_mutex_lock(&tr->lock);
		rc = try_open(paths[fmt], r.newest_ns, info, fd);
		if (rc == -ENOENT) {
			rc = render(tr, kind, owner, cont, paths);
			if (!rc) {
				remove_stale(tr, h, paths);
				rc = try_open(paths[fmt], r.newest_ns, info,
					      fd);
			}
		}
		pthread_mutex_unlock(&tr->lock);
	}
	free(paths[0]);
	free(paths[1]);
	return rc;
}
