/* cache.c - the LMDB cache behind every directory and file (see cache.h). */
#include "cache.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "log.h"
#include "names.h"
#include "render.h"

#define SCHEMA_VERSION 2u
#define MAP_SIZE (64ULL << 30)

struct cache {
	MDB_env *env;
	MDB_dbi meta, lists, scopes, conts, msgs, bodies, members, attdirs,
		atts, names;
	int64_t created_ns;
};

/* A message record as stored in msgs. */
struct msg_disk {
	int64_t mtime_ns;
	uint64_t body;	/* its key in bodies */
	uint32_t size;	/* bytes of its file */
	uint32_t flags; /* MSG_VERBATIM */
};

/* The body holds the file bytes themselves, not the compact form. */
#define MSG_VERBATIM 0x1u

/* An attachment record as stored, followed by its strings and bytes. */
struct att_disk {
	uint8_t kind;
	uint8_t pad[3];
	uint32_t source_len, type_len, id_len;
	int64_t mtime_ns;
	int64_t size;
};

struct cache_txn {
	struct cache *c;
	MDB_txn *txn;
	uint64_t next_body; /* key of the next body appended, 0 if unknown */
};

struct list_state_rec {
	uint32_t complete;
	uint32_t count;
	int64_t fetched_ns;
};

struct scope_disk {
	uint32_t flags;
	uint32_t containers;
	uint64_t messages;
	int64_t newest_ns;
	int64_t completed_ns;
};

/* Longest key: two hashes and a name. */
#define KEY_MAX (24 + NAME_MAX_BYTES + 1)

static int mdb_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	default:
		return rc > 0 && rc < 1000 ? -rc : -EIO;
	}
}

/* Logs an unexpected LMDB failure of @what and returns it as -errno. */
static int fail(const char *what, int rc)
{
	log_error("cache: %s failed: %s", what, mdb_strerror(rc));
	return mdb_errno(rc);
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be64(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

uint64_t cache_scope_hash(char kind, const char *owner)
{
	uint64_t h = hash_update(HASH_SEED, &kind, 1);

	h = hash_update(h, "/", 1);
	return hash_final(hash_update(h, owner, strlen(owner)));
}

/* Builds "<kind><name>" in @buf and points @k at it. */
static int kind_key(unsigned char *buf, char kind, const char *name, MDB_val *k)
{
	size_t n = strlen(name);

	if (n > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	buf[0] = (unsigned char)kind;
	memcpy(buf + 1, name, n);
	k->mv_data = buf;
	k->mv_size = n + 1;
	return 0;
}

/* Builds "<sh><name>" in @buf. */
static int cont_key(unsigned char *buf, uint64_t sh, const char *cont,
		    MDB_val *k)
{
	size_t n = strlen(cont);

	if (n > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	put_be64(buf, sh);
	memcpy(buf + 8, cont, n);
	k->mv_data = buf;
	k->mv_size = n + 8;
	return 0;
}

/*
 * The key of container @cont of scope @sh in msgs, attdirs and atts.  A
 * thread id ("19:...@thread.v2", "19:...@unq.gbl.spaces", a channel's
 * "19:...@thread.tacv2") names one conversation in the whole tenant, so
 * every scope that holds it shares one key and its messages are stored
 * once.  Other ids ("48:notes", each user's own notes under the same id)
 * and teamsfs's own "%nochat" are keyed per scope.
 */
static uint64_t cont_hash(uint64_t sh, const char *cont)
{
	size_t n = strlen(cont);
	unsigned char b[8];

	if (n > 3 && !memcmp(cont, "19:", 3) && memchr(cont, '@', n))
		return hash_bytes(cont, n);
	put_be64(b, sh);
	return hash_final(hash_update(hash_update(HASH_SEED, b, 8), cont, n));
}

/* Builds "<ck><name>" in @buf; @name may be "" for a prefix. */
static int msg_key(unsigned char *buf, uint64_t ck, const char *name,
		   MDB_val *k)
{
	size_t n = strlen(name);

	if (n > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	put_be64(buf, ck);
	memcpy(buf + 8, name, n);
	k->mv_data = buf;
	k->mv_size = n + 8;
	return 0;
}

/* Builds "<sh><ck><name>" in @buf, a key of members. */
static int member_key(unsigned char *buf, uint64_t sh, uint64_t ck,
		      const char *name, MDB_val *k)
{
	size_t n = strlen(name);

	if (n > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	put_be64(buf, sh);
	put_be64(buf + 8, ck);
	memcpy(buf + 16, name, n);
	k->mv_data = buf;
	k->mv_size = n + 16;
	return 0;
}

static int read_begin(struct cache *c, MDB_txn **txn)
{
	int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, txn);

	return rc ? fail("starting a read", rc) : 0;
}

/* The next key to append to bodies in @t. */
static int next_body(struct cache_txn *t, uint64_t *out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (!t->next_body) {
		rc = mdb_cursor_open(t->txn, t->c->bodies, &cur);
		if (rc)
			return rc;
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND) {
			t->next_body = 1;
		} else if (rc) {
			return rc;
		} else {
			if (k.mv_size != 8)
				return MDB_CORRUPTED;
			t->next_body = get_be64(k.mv_data) + 1;
		}
	}
	*out = t->next_body++;
	return 0;
}

/* What msg_store() did, as CACHE_MSG_* flags, and the mtime now served. */
struct stored {
	unsigned done;
	int64_t mtime_ns;
};

/*
 * Stores message @name of container key @ck for scope @sh in @t: @data of
 * @len is its compact form, or its file bytes with MSG_VERBATIM in @flags.
 * A stored copy with a newer mtime, or the same mtime and bytes, is kept.
 * Returns 0 or an LMDB error.
 */
static int msg_store(struct cache_txn *t, uint64_t sh, uint64_t ck,
		     const char *name, int64_t mtime_ns, const char *data,
		     size_t len, uint32_t flags, struct stored *out)
{
	struct cache *c = t->c;
	unsigned char kb[KEY_MAX], bk[8];
	struct msg_disk d = {0};
	MDB_val k, v, b = {8, bk};
	size_t size;
	int rc, existed, write;

	out->done = 0;
	rc = msg_key(kb, ck, name, &k);
	if (rc)
		return rc;
	rc = mdb_get(t->txn, c->msgs, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	existed = !rc && v.mv_size >= sizeof(d);
	write = !existed;
	if (existed) {
		memcpy(&d, v.mv_data, sizeof(d));
		write = mtime_ns > d.mtime_ns;
		/* The same time: keep it unless the bytes differ. */
		if (mtime_ns == d.mtime_ns) {
			put_be64(bk, d.body);
			rc = mdb_get(t->txn, c->bodies, &b, &v);
			if (rc && rc != MDB_NOTFOUND)
				return rc;
			write = rc || v.mv_size != len || d.flags != flags ||
				memcmp(v.mv_data, data, len);
		}
	}
	if (write) {
		size = flags & MSG_VERBATIM ? len
					    : render_pretty_len(data, len);
		if (size > UINT32_MAX)
			return EFBIG;
		if (existed) {
			put_be64(bk, d.body);
			rc = mdb_del(t->txn, c->bodies, &b, NULL);
			if (rc && rc != MDB_NOTFOUND)
				return rc;
		}
		d.mtime_ns = mtime_ns;
		d.size = (uint32_t)size;
		d.flags = flags;
		rc = next_body(t, &d.body);
		if (rc)
			return rc;
		put_be64(bk, d.body);
		v.mv_data = (void *)data;
		v.mv_size = len;
		/* Bodies only ever grow at the end: full pages. */
		rc = mdb_put(t->txn, c->bodies, &b, &v, MDB_APPEND);
		if (rc)
			return rc;
		v.mv_data = &d;
		v.mv_size = sizeof(d);
		rc = mdb_put(t->txn, c->msgs, &k, &v, 0);
		if (rc)
			return rc;
		out->done |= CACHE_MSG_STORED | (existed ? 0 : CACHE_MSG_FIRST);
	}
	out->mtime_ns = d.mtime_ns;
	rc = member_key(kb, sh, ck, name, &k);
	if (rc)
		return rc;
	v.mv_data = NULL;
	v.mv_size = 0;
	rc = mdb_put(t->txn, c->members, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return 0;
	if (!rc)
		out->done |= CACHE_MSG_NEW;
	return rc;
}

/*
 * The compact form of old file bytes @data (@len), or NULL if they are not
 * what render_pretty() would make of it: those are kept as they are.
 */
static char *compact_of(const char *data, size_t len, size_t *clen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	char *compact = NULL, *again = NULL;

	if (tok && len <= INT32_MAX) {
		o = json_tokener_parse_ex(tok, data, (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success) {
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	if (o)
		compact = render_compact(o, clen);
	json_object_put(o);
	if (compact && render_pretty_len(compact, *clen) == len &&
	    (again = malloc(len))) {
		render_pretty(compact, *clen, again, len);
		if (!memcmp(again, data, len)) {
			free(again);
			return compact;
		}
	}
	free(again);
	free(compact);
	return NULL;
}

/* Copies the keys under @prefix of old @from to @to, swapping @plen bytes
 * of prefix for the 8 at @nprefix. */
static int rekey(MDB_txn *txn, MDB_dbi from, MDB_dbi to,
		 const unsigned char *prefix, size_t plen,
		 const unsigned char *nprefix)
{
	unsigned char kb[KEY_MAX + 8];
	MDB_cursor *cur;
	MDB_val k = {plen, (void *)prefix}, v, nk;
	int rc = mdb_cursor_open(txn, from, &cur);

	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
			break;
		if (k.mv_size - plen + 8 > sizeof(kb))
			continue;
		memcpy(kb, nprefix, 8);
		memcpy(kb + 8, (char *)k.mv_data + plen, k.mv_size - plen);
		nk.mv_data = kb;
		nk.mv_size = k.mv_size - plen + 8;
		rc = mdb_put(txn, to, &nk, &v, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Converts a schema 1 cache in @txn.  Schema 1 kept every message once per
 * scope, as its file bytes: msgs <sh><hash of container name><name> ->
 * mtime + bytes, attdirs <sh><hash of container name><dir>, atts
 * <sh><hash of container name><hash of message name><name>.  Containers,
 * scopes, lists and names stay as they are.
 */
static int migrate_v1(struct cache *c, MDB_txn *txn)
{
	struct cache_txn t = {c, txn, 0};
	MDB_dbi om, oad, oat;
	MDB_cursor *cur = NULL, *mc = NULL;
	MDB_stat st;
	MDB_val k, v;
	unsigned long long kept = 0;
	int rc;

	rc = mdb_dbi_open(txn, "msgs", MDB_CREATE, &om);
	if (!rc)
		rc = mdb_dbi_open(txn, "attdirs", MDB_CREATE, &oad);
	if (!rc)
		rc = mdb_dbi_open(txn, "atts", MDB_CREATE, &oat);
	if (!rc)
		rc = mdb_stat(txn, om, &st);
	if (rc)
		return rc;
	log_notice("cache: converting %llu messages from cache schema 1 to %u "
		   "(each chat stored once, compact JSON); this happens once",
		   (unsigned long long)st.ms_entries, SCHEMA_VERSION);
	rc = mdb_cursor_open(txn, c->conts, &cur);
	if (!rc)
		rc = mdb_cursor_open(txn, om, &mc);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char cont[NAME_MAX_BYTES + 1];
		unsigned char prefix[16], nprefix[8];
		uint64_t sh, ck;
		MDB_val mk = {16, prefix}, mv;

		if (k.mv_size <= 8 || k.mv_size > 8 + NAME_MAX_BYTES)
			continue;
		sh = get_be64(k.mv_data);
		memcpy(cont, (char *)k.mv_data + 8, k.mv_size - 8);
		cont[k.mv_size - 8] = '\0';
		ck = cont_hash(sh, cont);
		put_be64(prefix, sh);
		put_be64(prefix + 8, hash_bytes(cont, strlen(cont)));
		put_be64(nprefix, ck);
		for (rc = mdb_cursor_get(mc, &mk, &mv, MDB_SET_RANGE); !rc;
		     rc = mdb_cursor_get(mc, &mk, &mv, MDB_NEXT)) {
			char name[NAME_MAX_BYTES + 1], *compact, *bytes;
			size_t len = mv.mv_size - 8, clen;
			struct stored done;
			int64_t mtime;

			if (mk.mv_size < 16 || memcmp(mk.mv_data, prefix, 16))
				break;
			if (mk.mv_size > 16 + NAME_MAX_BYTES || mv.mv_size < 8)
				continue;
			memcpy(name, (char *)mk.mv_data + 16, mk.mv_size - 16);
			name[mk.mv_size - 16] = '\0';
			memcpy(&mtime, mv.mv_data, 8);
			/* Copied: values are valid only until a write. */
			bytes = malloc(len + 1);
			if (!bytes) {
				rc = ENOMEM;
				break;
			}
			memcpy(bytes, (char *)mv.mv_data + 8, len);
			compact = compact_of(bytes, len, &clen);
			if (compact)
				rc = msg_store(&t, sh, ck, name, mtime, compact,
					       clen, 0, &done);
			else
				rc = msg_store(&t, sh, ck, name, mtime, bytes,
					       len, MSG_VERBATIM, &done);
			kept += !compact;
			free(compact);
			free(bytes);
			if (rc)
				break;
		}
		if (rc && rc != MDB_NOTFOUND)
			break;
		rc = rekey(txn, oad, c->attdirs, prefix, 16, nprefix);
		if (!rc)
			rc = rekey(txn, oat, c->atts, prefix, 16, nprefix);
		if (rc)
			break;
	}
	if (mc)
		mdb_cursor_close(mc);
	if (cur)
		mdb_cursor_close(cur);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (kept)
		log_info("cache: %llu messages kept as they were served", kept);
	rc = mdb_drop(txn, om, 1);
	if (!rc)
		rc = mdb_drop(txn, oad, 1);
	if (!rc)
		rc = mdb_drop(txn, oat, 1);
	return rc;
}

static int open_dbs(struct cache *c)
{
	static const char *const names[] = {
		"lists",   "scopes",	 "conts",	"messages", "bodies",
		"members", "attachdirs", "attachments", "names"};
	MDB_dbi *dbis[] = {&c->lists,	&c->scopes, &c->conts,
			   &c->msgs,	&c->bodies, &c->members,
			   &c->attdirs, &c->atts,   &c->names};
	MDB_txn *txn;
	MDB_val k = {6, "schema"}, v;
	uint32_t version = SCHEMA_VERSION, found = 0;
	struct timespec ts;
	int64_t now;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;

	rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc)
		return fail("opening the cache", rc);
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &c->meta);
	if (rc)
		goto out;
	rc = mdb_get(txn, c->meta, &k, &v);
	if (!rc) {
		memcpy(&found, v.mv_data,
		       v.mv_size < sizeof(found) ? v.mv_size : sizeof(found));
		if (found != 1 && found != SCHEMA_VERSION) {
			log_error("cache: schema version %u is not %u; move "
				  "the cache directory aside to start afresh",
				  found, SCHEMA_VERSION);
			mdb_txn_abort(txn);
			return -EPROTO;
		}
	} else if (rc != MDB_NOTFOUND) {
		goto out;
	}
	for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
		rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i]);
		if (rc)
			goto out;
	}
	if (found == 1) {
		rc = migrate_v1(c, txn);
		if (rc)
			goto out;
	}
	if (found != SCHEMA_VERSION) {
		v.mv_data = &version;
		v.mv_size = sizeof(version);
		rc = mdb_put(txn, c->meta, &k, &v, 0);
		if (rc)
			goto out;
	}
	if (!found) {
		MDB_val ck = {7, "created"}, cv = {sizeof(now), &now};

		rc = mdb_put(txn, c->meta, &ck, &cv, 0);
		if (rc)
			goto out;
	}
	k.mv_size = 7;
	k.mv_data = "created";
	rc = mdb_get(txn, c->meta, &k, &v);
	if (!rc && v.mv_size == sizeof(c->created_ns))
		memcpy(&c->created_ns, v.mv_data, sizeof(c->created_ns));
	rc = mdb_txn_commit(txn);
	return rc ? fail("opening the cache", rc) : 0;
out:
	mdb_txn_abort(txn);
	return fail("opening the cache", rc);
}

int cache_open(const char *dir, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	rc = mdb_env_create(&c->env);
	if (rc) {
		free(c);
		return fail("creating the cache", rc);
	}
	mdb_env_set_maxdbs(c->env, 16);
	mdb_env_set_maxreaders(c->env, 512);
	mdb_env_set_mapsize(c->env, MAP_SIZE);
	/* NOMETASYNC: a power cut may lose the last page, never consistency */
	rc = mdb_env_open(c->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
	if (rc) {
		log_error("cache: cannot open %s: %s", dir, mdb_strerror(rc));
		mdb_env_close(c->env);
		free(c);
		return mdb_errno(rc);
	}
	rc = open_dbs(c);
	if (rc) {
		mdb_env_close(c->env);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	mdb_env_sync(c->env, 1);
	mdb_env_close(c->env);
	free(c);
}

int cache_write_begin(struct cache *c, struct cache_txn **out)
{
	struct cache_txn *t = malloc(sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	rc = mdb_txn_begin(c->env, NULL, 0, &t->txn);
	if (rc) {
		free(t);
		return fail("starting a write", rc);
	}
	t->c = c;
	t->next_body = 0;
	*out = t;
	return 0;
}

int cache_commit(struct cache_txn *t)
{
	int rc = mdb_txn_commit(t->txn);

	free(t);
	return rc ? fail("committing a write", rc) : 0;
}

void cache_abort(struct cache_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

int cache_list_put(struct cache_txn *t, char kind, const char *name,
		   const char *id, const char *display, const char *label)
{
	const char *parts[3] = {id, display ? display : "", label ? label : ""};
	unsigned char kb[KEY_MAX];
	size_t len[3], total = 0;
	MDB_val k, v;
	char *p;
	int rc = kind_key(kb, kind, name, &k);

	if (rc)
		return rc;
	for (int i = 0; i < 3; i++)
		total += (len[i] = strlen(parts[i])) + 1;
	v.mv_size = total;
	rc = mdb_put(t->txn, t->c->lists, &k, &v, MDB_RESERVE);
	if (rc)
		return fail("storing a list entry", rc);
	p = v.mv_data;
	for (int i = 0; i < 3; i++) {
		memcpy(p, parts[i], len[i] + 1);
		p += len[i] + 1;
	}
	return 0;
}

int cache_list_complete(struct cache_txn *t, char kind, uint32_t count,
			int64_t now_ns)
{
	struct list_state_rec r = {1, count, now_ns};
	MDB_val k = {1, &kind}, v = {sizeof(r), &r};
	int rc = mdb_put(t->txn, t->c->lists, &k, &v, 0);

	return rc ? fail("storing a list state", rc) : 0;
}

int cache_list_state(struct cache *c, char kind, struct list_state *st)
{
	struct list_state_rec r;
	MDB_val k = {1, &kind}, v;
	MDB_txn *txn;
	int rc = read_begin(c, &txn);

	memset(st, 0, sizeof(*st));
	if (rc)
		return rc;
	rc = mdb_get(txn, c->lists, &k, &v);
	if (!rc && v.mv_size == sizeof(r)) {
		memcpy(&r, v.mv_data, sizeof(r));
		st->complete = (int)r.complete;
		st->count = r.count;
		st->fetched_ns = r.fetched_ns;
	}
	mdb_txn_abort(txn);
	return rc && rc != MDB_NOTFOUND ? fail("reading a list state", rc) : 0;
}

/*
 * A key that could not be built names nothing the cache can hold: a name
 * longer than any stored one is simply not there.
 */
static int key_missing(int rc)
{
	return rc == -ENAMETOOLONG ? -ENOENT : rc;
}

/*
 * Looks up key @k of @dbi (built with result @key_rc) in a read
 * transaction of its own and hands the value to @take (which copies what it
 * needs).  Returns 0, -ENOENT, @take's error, or -errno after logging a
 * failure to read @what.
 */
static int lookup(struct cache *c, MDB_dbi dbi, int key_rc, MDB_val *k,
		  int (*take)(const MDB_val *v, void *out), void *out,
		  const char *what)
{
	MDB_txn *txn;
	MDB_val v;
	int rc;

	if (key_rc)
		return key_missing(key_rc);
	rc = read_begin(c, &txn);
	if (rc)
		return rc;
	rc = mdb_get(txn, dbi, k, &v);
	if (!rc) {
		rc = take(&v, out);
		mdb_txn_abort(txn);
		return rc;
	}
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return fail(what, rc);
}

static int take_list_entry(const MDB_val *v, void *out)
{
	struct list_entry *e = out;
	const char *p = v->mv_data, *end = p + v->mv_size;
	char **parts[3] = {&e->id, &e->display, &e->label};

	for (int i = 0; i < 3 && p < end; i++) {
		size_t n = strnlen(p, (size_t)(end - p));

		if (n || i == 0)
			*parts[i] = strndup(p, n);
		p += n + 1;
	}
	return e->id ? 0 : -ENOMEM;
}

int cache_list_get(struct cache *c, char kind, const char *name,
		   struct list_entry *e)
{
	unsigned char kb[KEY_MAX];
	MDB_val k;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = lookup(c, c->lists, kind_key(kb, kind, name, &k), &k,
		    take_list_entry, e, "reading a list entry");
	if (rc)
		cache_list_entry_free(e);
	return rc;
}

void cache_list_entry_free(struct list_entry *e)
{
	free(e->id);
	free(e->display);
	free(e->label);
	e->id = e->display = e->label = NULL;
}

/* Turns a value into the record handed to a listing callback. */
typedef const void *(*decode_fn)(const MDB_val *v, void *scratch);

static const void *decode_cont(const MDB_val *v, void *scratch)
{
	if (v->mv_size < sizeof(struct cont_rec))
		return NULL;
	memcpy(scratch, v->mv_data, sizeof(struct cont_rec));
	return scratch;
}

static const void *decode_att(const MDB_val *v, void *scratch)
{
	struct att_rec *r = scratch;
	struct att_disk d;

	if (v->mv_size < sizeof(d))
		return NULL;
	memcpy(&d, v->mv_data, sizeof(d));
	memset(r, 0, sizeof(*r));
	r->kind = d.kind;
	r->mtime_ns = d.mtime_ns;
	r->size = d.size;
	return r;
}

/* Walks the keys of @dbi beginning with @prefix, calling @fn on the rest. */
static int walk_prefix(struct cache *c, MDB_dbi dbi, const void *prefix,
		       size_t plen, decode_fn decode, cache_name_fn fn,
		       void *ctx)
{
	union {
		struct msg_stat ms;
		struct cont_rec cr;
		struct att_rec ar;
		struct scope_rec sr;
		int64_t t;
		char name[NAME_MAX_BYTES + 1];
	} scratch;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc = read_begin(c, &txn);

	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc) {
		mdb_txn_abort(txn);
		return fail("opening a cursor", rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	     !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const void *rec = decode ? decode(&v, &scratch) : NULL;

		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
			break;
		if (k.mv_size == plen)
			continue; /* the prefix itself: a state record */
		if (decode && !rec)
			continue;
		if (fn(ctx, (const char *)k.mv_data + plen, k.mv_size - plen,
		       rec))
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc && rc != MDB_NOTFOUND ? fail("listing", rc) : 0;
}

int cache_list_foreach(struct cache *c, char kind, cache_name_fn fn, void *ctx)
{
	return walk_prefix(c, c->lists, &kind, 1, NULL, fn, ctx);
}

static void scope_decode(const MDB_val *v, struct scope_rec *r)
{
	struct scope_disk d;

	if (v->mv_size < sizeof(d))
		return;
	memcpy(&d, v->mv_data, sizeof(d));
	r->flags = d.flags;
	r->containers = d.containers;
	r->messages = d.messages;
	r->newest_ns = d.newest_ns;
	r->completed_ns = d.completed_ns;
	if (v->mv_size > sizeof(d))
		r->next_link = strndup((const char *)v->mv_data + sizeof(d),
				       v->mv_size - sizeof(d));
}

static const void *decode_scope(const MDB_val *v, void *scratch)
{
	struct scope_rec *r = scratch;

	memset(r, 0, sizeof(*r));
	if (v->mv_size < sizeof(struct scope_disk))
		return NULL;
	scope_decode(v, r);
	free(r->next_link);
	r->next_link = NULL;
	return r;
}

int cache_scope_foreach(struct cache *c, cache_name_fn fn, void *ctx)
{
	return walk_prefix(c, c->scopes, "", 0, decode_scope, fn, ctx);
}

int cache_size(struct cache *c, long long *bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc = mdb_env_info(c->env, &info);

	if (!rc)
		rc = mdb_env_stat(c->env, &st);
	if (rc)
		return fail("reading the cache size", rc);
	*bytes = (long long)(info.me_last_pgno + 1) * st.ms_psize;
	return 0;
}

static int scope_get(MDB_txn *txn, struct cache *c, char kind,
		     const char *owner, struct scope_rec *r)
{
	unsigned char kb[KEY_MAX];
	MDB_val k, v;
	int rc = kind_key(kb, kind, owner, &k);

	memset(r, 0, sizeof(*r));
	if (rc)
		return rc;
	rc = mdb_get(txn, c->scopes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return fail("reading a scope", rc);
	scope_decode(&v, r);
	return 0;
}

int cache_scope_get(struct cache *c, char kind, const char *owner,
		    struct scope_rec *r)
{
	MDB_txn *txn;
	int rc = read_begin(c, &txn);

	if (rc) {
		memset(r, 0, sizeof(*r));
		return rc;
	}
	rc = scope_get(txn, c, kind, owner, r);
	mdb_txn_abort(txn);
	return rc;
}

int cache_scope_get_txn(struct cache_txn *t, char kind, const char *owner,
			struct scope_rec *r)
{
	return scope_get(t->txn, t->c, kind, owner, r);
}

int cache_scope_put(struct cache_txn *t, char kind, const char *owner,
		    const struct scope_rec *r)
{
	unsigned char kb[KEY_MAX];
	struct scope_disk d = {r->flags, r->containers, r->messages,
			       r->newest_ns, r->completed_ns};
	size_t nl = r->next_link ? strlen(r->next_link) : 0;
	MDB_val k, v;
	int rc = kind_key(kb, kind, owner, &k);

	if (rc)
		return rc;
	v.mv_size = sizeof(d) + nl;
	rc = mdb_put(t->txn, t->c->scopes, &k, &v, MDB_RESERVE);
	if (rc)
		return fail("storing a scope", rc);
	memcpy(v.mv_data, &d, sizeof(d));
	if (nl)
		memcpy((char *)v.mv_data + sizeof(d), r->next_link, nl);
	return 0;
}

/* Raises container @cont's record for a message stored or newly held. */
static int cont_touch(struct cache_txn *t, uint64_t sh, const char *cont,
		      const char *cont_id, int64_t mtime_ns, int added,
		      int *new_cont)
{
	unsigned char kb[KEY_MAX];
	struct cont_rec r = {mtime_ns, 0};
	size_t il = cont_id ? strlen(cont_id) : 0;
	MDB_val k, v;
	int rc = cont_key(kb, sh, cont, &k);

	if (rc)
		return rc;
	rc = mdb_get(t->txn, t->c->conts, &k, &v);
	*new_cont = rc == MDB_NOTFOUND;
	if (rc == 0 && v.mv_size >= sizeof(r)) {
		memcpy(&r, v.mv_data, sizeof(r));
		if (mtime_ns > r.newest_ns)
			r.newest_ns = mtime_ns;
	} else if (rc && rc != MDB_NOTFOUND) {
		return fail("reading a container", rc);
	}
	r.messages += added;
	v.mv_size = sizeof(r) + il;
	rc = mdb_put(t->txn, t->c->conts, &k, &v, MDB_RESERVE);
	if (rc)
		return fail("storing a container", rc);
	memcpy(v.mv_data, &r, sizeof(r));
	if (il)
		memcpy((char *)v.mv_data + sizeof(r), cont_id, il);
	return 0;
}

int cache_msg_put(struct cache_txn *t, uint64_t sh, const char *cont,
		  const char *cont_id, const char *name, int64_t mtime_ns,
		  const char *json, size_t len, unsigned *done)
{
	struct stored st;
	int rc, new_cont;

	*done = 0;
	if (strlen(cont) > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	rc = msg_store(t, sh, cont_hash(sh, cont), name, mtime_ns, json, len, 0,
		       &st);
	if (rc)
		return rc < 0 ? rc : fail("storing a message", rc);
	*done = st.done;
	if (!(st.done & (CACHE_MSG_NEW | CACHE_MSG_STORED)))
		return 0;
	rc = cont_touch(t, sh, cont, cont_id, st.mtime_ns,
			!!(st.done & CACHE_MSG_NEW), &new_cont);
	if (new_cont)
		*done |= CACHE_MSG_NEW_CONT;
	return rc;
}

static int take_cont(const MDB_val *v, void *out)
{
	if (v->mv_size < sizeof(struct cont_rec))
		return -EIO;
	memcpy(out, v->mv_data, sizeof(struct cont_rec));
	return 0;
}

int cache_cont_get(struct cache *c, uint64_t sh, const char *cont,
		   struct cont_rec *r)
{
	unsigned char kb[KEY_MAX];
	MDB_val k;

	memset(r, 0, sizeof(*r));
	return lookup(c, c->conts, cont_key(kb, sh, cont, &k), &k, take_cont, r,
		      "reading a container");
}

static int take_cont_id(const MDB_val *v, void *out)
{
	char **id = out;

	if (v->mv_size > sizeof(struct cont_rec)) {
		*id = strndup((char *)v->mv_data + sizeof(struct cont_rec),
			      v->mv_size - sizeof(struct cont_rec));
		if (!*id)
			return -ENOMEM;
	}
	return 0;
}

int cache_cont_id(struct cache *c, uint64_t sh, const char *cont, char **id)
{
	unsigned char kb[KEY_MAX];
	MDB_val k;

	*id = NULL;
	return lookup(c, c->conts, cont_key(kb, sh, cont, &k), &k, take_cont_id,
		      id, "reading a container");
}

int cache_msg_count(struct cache *c, unsigned long long *count)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc = read_begin(c, &txn);

	if (rc)
		return rc;
	rc = mdb_stat(txn, c->msgs, &st);
	mdb_txn_abort(txn);
	if (rc)
		return fail("counting messages", rc);
	*count = st.ms_entries;
	return 0;
}

int cache_cont_foreach(struct cache *c, uint64_t sh, cache_name_fn fn,
		       void *ctx)
{
	unsigned char prefix[8];

	put_be64(prefix, sh);
	return walk_prefix(c, c->conts, prefix, 8, decode_cont, fn, ctx);
}

/* Is message @name of container key @ck held by scope @sh? */
static int held(MDB_txn *txn, struct cache *c, uint64_t sh, uint64_t ck,
		const char *name)
{
	unsigned char kb[KEY_MAX];
	MDB_val k, v;
	int rc = member_key(kb, sh, ck, name, &k);

	if (rc)
		return key_missing(rc);
	rc = mdb_get(txn, c->members, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return rc ? fail("reading a message", rc) : 0;
}

/* Reads the record of message @name of @ck into @d. */
static int msg_rec(MDB_txn *txn, struct cache *c, uint64_t ck, const char *name,
		   struct msg_disk *d)
{
	unsigned char kb[KEY_MAX];
	MDB_val k, v;
	int rc = msg_key(kb, ck, name, &k);

	if (rc)
		return key_missing(rc);
	rc = mdb_get(txn, c->msgs, &k, &v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return fail("reading a message", rc);
	if (v.mv_size < sizeof(*d))
		return -EIO;
	memcpy(d, v.mv_data, sizeof(*d));
	return 0;
}

/* Finds message @name of container @cont as scope @sh holds it. */
static int msg_find(struct cache *c, MDB_txn *txn, uint64_t sh,
		    const char *cont, const char *name, struct msg_disk *d)
{
	uint64_t ck;
	int rc;

	if (strlen(cont) > NAME_MAX_BYTES)
		return -ENOENT;
	ck = cont_hash(sh, cont);
	rc = held(txn, c, sh, ck, name);
	return rc ? rc : msg_rec(txn, c, ck, name, d);
}

/* Points @v at the body of @d. */
static int body_get(MDB_txn *txn, struct cache *c, const struct msg_disk *d,
		    MDB_val *v)
{
	unsigned char bk[8];
	MDB_val b = {8, bk};
	int rc;

	put_be64(bk, d->body);
	rc = mdb_get(txn, c->bodies, &b, v);
	if (rc == MDB_NOTFOUND)
		return -EIO;
	return rc ? fail("reading a message", rc) : 0;
}

int cache_msg_stat(struct cache *c, uint64_t sh, const char *cont,
		   const char *name, struct msg_stat *st)
{
	struct msg_disk d;
	MDB_txn *txn;
	int rc = read_begin(c, &txn);

	if (rc)
		return rc;
	rc = msg_find(c, txn, sh, cont, name, &d);
	if (!rc) {
		st->mtime_ns = d.mtime_ns;
		st->size = d.size;
	}
	mdb_txn_abort(txn);
	return rc;
}

/* Copies message @name: its file bytes, or with @raw what is stored. */
static int msg_copy(struct cache *c, uint64_t sh, const char *cont,
		    const char *name, int raw, char **data, size_t *len)
{
	struct msg_disk d;
	MDB_txn *txn;
	MDB_val v;
	int rc = read_begin(c, &txn);

	if (rc)
		return rc;
	rc = msg_find(c, txn, sh, cont, name, &d);
	if (!rc)
		rc = body_get(txn, c, &d, &v);
	if (!rc) {
		int as_is = raw || (d.flags & MSG_VERBATIM);

		*len = as_is ? v.mv_size : d.size;
		*data = malloc(*len + 1);
		if (!*data)
			rc = -ENOMEM;
		else if (as_is)
			memcpy(*data, v.mv_data, *len);
		else if (render_pretty(v.mv_data, v.mv_size, *data, *len) !=
			 *len)
			rc = -EIO; /* the record does not match its body */
		if (!rc) {
			(*data)[*len] = '\0';
		} else {
			free(*data);
			*data = NULL;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

int cache_msg_read(struct cache *c, uint64_t sh, const char *cont,
		   const char *name, char **data, size_t *len)
{
	return msg_copy(c, sh, cont, name, 0, data, len);
}

int cache_msg_json(struct cache *c, uint64_t sh, const char *cont,
		   const char *name, char **data, size_t *len)
{
	return msg_copy(c, sh, cont, name, 1, data, len);
}

int cache_msg_foreach(struct cache *c, uint64_t sh, const char *cont,
		      cache_name_fn fn, void *ctx)
{
	unsigned char prefix[16];
	MDB_val k = {16, prefix}, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	uint64_t ck;
	int rc;

	if (strlen(cont) > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	ck = cont_hash(sh, cont);
	put_be64(prefix, sh);
	put_be64(prefix + 8, ck);
	rc = read_begin(c, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, c->members, &cur);
	if (rc) {
		mdb_txn_abort(txn);
		return fail("opening a cursor", rc);
	}
	/* What the scope holds, with each message's record. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		unsigned char kb[KEY_MAX];
		struct msg_disk d;
		struct msg_stat ms;
		MDB_val mk = {k.mv_size - 8, kb}, mv;

		if (k.mv_size < 16 || memcmp(k.mv_data, prefix, 16))
			break;
		if (k.mv_size == 16 || k.mv_size > 16 + NAME_MAX_BYTES)
			continue;
		memcpy(kb, prefix + 8, 8);
		memcpy(kb + 8, (char *)k.mv_data + 16, k.mv_size - 16);
		if (mdb_get(txn, c->msgs, &mk, &mv) || mv.mv_size < sizeof(d))
			continue;
		memcpy(&d, mv.mv_data, sizeof(d));
		ms.mtime_ns = d.mtime_ns;
		ms.size = d.size;
		if (fn(ctx, (const char *)k.mv_data + 16, k.mv_size - 16, &ms))
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc && rc != MDB_NOTFOUND ? fail("listing", rc) : 0;
}

/* Deletes every key of @dbi that begins with the @plen bytes at @prefix. */
static int delete_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix,
			 size_t plen)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc)
		return rc;
	for (;;) {
		MDB_val k = {plen, (void *)prefix}, v;

		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc || k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Builds "<ck><hash of msg><name>" for the atts database. */
static int att_key(unsigned char *buf, uint64_t sh, const char *cont,
		   const char *msg, const char *name, MDB_val *k)
{
	size_t n = strlen(name);

	if (n > NAME_MAX_BYTES || strlen(cont) > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	put_be64(buf, cont_hash(sh, cont));
	put_be64(buf + 8, hash_bytes(msg, strlen(msg)));
	memcpy(buf + 16, name, n);
	k->mv_data = buf;
	k->mv_size = n + 16;
	return 0;
}

/* Builds the attdirs key of directory @dir of container @cont. */
static int attdir_key(unsigned char *buf, uint64_t sh, const char *cont,
		      const char *dir, MDB_val *k)
{
	if (strlen(cont) > NAME_MAX_BYTES)
		return -ENAMETOOLONG;
	return msg_key(buf, cont_hash(sh, cont), dir, k);
}

static int att_put(struct cache_txn *t, const MDB_val *k, const struct att *a,
		   int64_t mtime_ns, int64_t size)
{
	struct att_disk d = {0};
	size_t sl = a->source ? strlen(a->source) : 0;
	size_t tl = a->content_type ? strlen(a->content_type) : 0;
	size_t il = a->id ? strlen(a->id) : 0;
	MDB_val v;
	char *p;
	int rc;

	d.kind = (uint8_t)a->kind;
	d.source_len = (uint32_t)sl;
	d.type_len = (uint32_t)tl;
	d.id_len = (uint32_t)il;
	d.mtime_ns = mtime_ns;
	d.size = size;
	v.mv_size = sizeof(d) + sl + tl + il + (a->data ? a->len : 0);
	rc = mdb_put(t->txn, t->c->atts, (MDB_val *)k, &v, MDB_RESERVE);
	if (rc)
		return fail("storing an attachment", rc);
	p = v.mv_data;
	memcpy(p, &d, sizeof(d));
	p += sizeof(d);
	memcpy(p, a->source, sl);
	memcpy(p + sl, a->content_type, tl);
	memcpy(p + sl + tl, a->id, il);
	if (a->data)
		memcpy(p + sl + tl + il, a->data, a->len);
	return 0;
}

int cache_att_replace(struct cache_txn *t, uint64_t sh, const char *cont,
		      const char *msg, const char *dir, const struct att *atts,
		      size_t n, int64_t mtime_ns)
{
	unsigned char kb[KEY_MAX];
	MDB_val k, v;
	int rc = att_key(kb, sh, cont, msg, "", &k);
	size_t ml = strlen(msg);

	if (rc)
		return rc;
	/* Drop what an older version of the message had. */
	rc = delete_prefix(t->txn, t->c->atts, kb, 16);
	if (rc)
		return fail("removing attachments", rc);
	for (size_t i = 0; i < n; i++) {
		rc = att_key(kb, sh, cont, msg, atts[i].name, &k);
		if (!rc)
			rc = att_put(t, &k, &atts[i], mtime_ns,
				     atts[i].kind == ATT_INLINE
					     ? (int64_t)atts[i].len
					     : -1);
		if (rc)
			return rc;
	}
	rc = attdir_key(kb, sh, cont, dir, &k);
	if (rc)
		return rc;
	if (!n) {
		rc = mdb_del(t->txn, t->c->attdirs, &k, NULL);
		return rc && rc != MDB_NOTFOUND ? fail("removing", rc) : 0;
	}
	v.mv_size = sizeof(mtime_ns) + ml;
	rc = mdb_put(t->txn, t->c->attdirs, &k, &v, MDB_RESERVE);
	if (rc)
		return fail("storing an attachments directory", rc);
	memcpy(v.mv_data, &mtime_ns, sizeof(mtime_ns));
	memcpy((char *)v.mv_data + sizeof(mtime_ns), msg, ml);
	return 0;
}

/* Where an attachments directory lookup puts its answer. */
struct attdir_out {
	char *msg;
	int64_t *mtime_ns;
};

static int take_attdir(const MDB_val *v, void *out)
{
	struct attdir_out *o = out;
	size_t ml = v->mv_size - sizeof(int64_t);

	if (v->mv_size < sizeof(int64_t) || ml > NAME_MAX_BYTES)
		return -EIO;
	memcpy(o->mtime_ns, v->mv_data, sizeof(int64_t));
	memcpy(o->msg, (char *)v->mv_data + sizeof(int64_t), ml);
	o->msg[ml] = '\0';
	return 0;
}

int cache_attdir_get(struct cache *c, uint64_t sh, const char *cont,
		     const char *dir, char *msg, int64_t *mtime_ns)
{
	struct attdir_out o = {msg, mtime_ns};
	unsigned char kb[KEY_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	int rc = attdir_key(kb, sh, cont, dir, &k);

	if (rc)
		return key_missing(rc);
	rc = read_begin(c, &txn);
	if (rc)
		return rc;
	rc = mdb_get(txn, c->attdirs, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = -ENOENT;
	else if (rc)
		rc = fail("reading an attachments directory", rc);
	else
		rc = take_attdir(&v, &o);
	/* Shared by the scopes that hold the chat: is its message here? */
	if (!rc)
		rc = held(txn, c, sh, get_be64(kb), msg);
	mdb_txn_abort(txn);
	return rc;
}

int cache_attdir_foreach(struct cache *c, uint64_t sh, const char *cont,
			 cache_name_fn fn, void *ctx)
{
	unsigned char prefix[KEY_MAX];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc = attdir_key(prefix, sh, cont, "", &k);

	if (rc)
		return rc;
	rc = read_begin(c, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, c->attdirs, &cur);
	if (rc) {
		mdb_txn_abort(txn);
		return fail("opening a cursor", rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char msg[NAME_MAX_BYTES + 1];
		int64_t mtime;
		struct attdir_out o = {msg, &mtime};

		if (k.mv_size < 8 || memcmp(k.mv_data, prefix, 8))
			break;
		if (k.mv_size == 8 || take_attdir(&v, &o) ||
		    held(txn, c, sh, get_be64(prefix), msg))
			continue;
		if (fn(ctx, (const char *)k.mv_data + 8, k.mv_size - 8, &mtime))
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc && rc != MDB_NOTFOUND ? fail("listing", rc) : 0;
}

/* Looks up attachment @name inside @txn. */
static int att_get(struct cache *c, MDB_txn *txn, uint64_t sh, const char *cont,
		   const char *msg, const char *name, MDB_val *v,
		   struct att_disk *d)
{
	unsigned char kb[KEY_MAX];
	MDB_val k;
	int rc = att_key(kb, sh, cont, msg, name, &k);

	if (rc)
		return key_missing(rc);
	rc = mdb_get(txn, c->atts, &k, v);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc)
		return fail("reading an attachment", rc);
	if (v->mv_size < sizeof(*d))
		return -EIO;
	memcpy(d, v->mv_data, sizeof(*d));
	if (sizeof(*d) + (size_t)d->source_len + d->type_len + d->id_len >
	    v->mv_size)
		return -EIO;
	return 0;
}

int cache_att_get(struct cache *c, uint64_t sh, const char *cont,
		  const char *msg, const char *name, struct att_rec *r)
{
	struct att_disk d;
	MDB_txn *txn;
	MDB_val v;
	int rc = read_begin(c, &txn);

	memset(r, 0, sizeof(*r));
	if (rc)
		return rc;
	rc = att_get(c, txn, sh, cont, msg, name, &v, &d);
	if (!rc) {
		const char *p = (const char *)v.mv_data + sizeof(d);

		r->kind = d.kind;
		r->mtime_ns = d.mtime_ns;
		r->size = d.size;
		r->source = d.source_len ? strndup(p, d.source_len) : NULL;
		p += d.source_len;
		r->content_type = d.type_len ? strndup(p, d.type_len) : NULL;
		p += d.type_len;
		r->id = d.id_len ? strndup(p, d.id_len) : NULL;
	}
	mdb_txn_abort(txn);
	return rc;
}

void cache_att_rec_free(struct att_rec *r)
{
	free(r->source);
	free(r->content_type);
	free(r->id);
	r->source = r->content_type = r->id = NULL;
}

int cache_att_read(struct cache *c, uint64_t sh, const char *cont,
		   const char *msg, const char *name, char **data, size_t *len)
{
	struct att_disk d;
	MDB_txn *txn;
	MDB_val v;
	int rc = read_begin(c, &txn);

	if (rc)
		return rc;
	rc = att_get(c, txn, sh, cont, msg, name, &v, &d);
	if (!rc) {
		size_t off = sizeof(d) + d.source_len + d.type_len + d.id_len;

		*len = v.mv_size - off;
		*data = malloc(*len + 1);
		if (*data) {
			memcpy(*data, (char *)v.mv_data + off, *len);
			(*data)[*len] = '\0';
		} else {
			rc = -ENOMEM;
		}
	}
	mdb_txn_abort(txn);
	return rc;
}

int cache_att_set_meta(struct cache *c, uint64_t sh, const char *cont,
		       const char *msg, const char *name, int64_t size,
		       int64_t mtime_ns, const char *content_type)
{
	unsigned char kb[KEY_MAX];
	struct att_disk d;
	struct cache_txn *t;
	struct att a = {0};
	MDB_val k, v;
	const char *p;
	int rc = att_key(kb, sh, cont, msg, name, &k);

	if (rc)
		return rc;
	rc = cache_write_begin(c, &t);
	if (rc)
		return rc;
	rc = mdb_get(t->txn, c->atts, &k, &v);
	if (!rc && v.mv_size < sizeof(d))
		rc = MDB_CORRUPTED;
	if (!rc && ((const struct att_disk *)v.mv_data)->kind == ATT_INLINE)
		rc = -EINVAL; /* its bytes are in the record: nothing to set */
	if (!rc) {
		/* Rebuild the record: the content type may change length. */
		memcpy(&d, v.mv_data, sizeof(d));
		p = (const char *)v.mv_data + sizeof(d);
		a.kind = d.kind;
		a.source = d.source_len ? strndup(p, d.source_len) : NULL;
		p += d.source_len;
		a.content_type = content_type ? strdup(content_type)
				 : d.type_len ? strndup(p, d.type_len)
					      : NULL;
		p += d.type_len;
		a.id = d.id_len ? strndup(p, d.id_len) : NULL;
		rc = att_put(t, &k, &a, mtime_ns, size);
		free(a.source);
		free(a.content_type);
		free(a.id);
	}
	if (rc) {
		cache_abort(t);
		return rc == MDB_NOTFOUND ? -ENOENT
		       : rc < 0		  ? rc
					  : fail("storing an attachment", rc);
	}
	return cache_commit(t);
}

int cache_att_foreach(struct cache *c, uint64_t sh, const char *cont,
		      const char *msg, cache_name_fn fn, void *ctx)
{
	unsigned char prefix[KEY_MAX];
	MDB_val k;
	int rc = att_key(prefix, sh, cont, msg, "", &k);

	if (rc)
		return rc;
	return walk_prefix(c, c->atts, prefix, 16, decode_att, fn, ctx);
}

int cache_names_replace(struct cache *c, uint64_t sh, char *const *readable,
			char *const *cont, char *const *meta, size_t n,
			int64_t now_ns)
{
	unsigned char kb[KEY_MAX];
	struct cache_txn *t;
	MDB_val k, v;
	int rc = cache_write_begin(c, &t);

	if (rc)
		return rc;
	put_be64(kb, sh);
	k.mv_data = kb;
	k.mv_size = 8;
	rc = delete_prefix(t->txn, c->names, kb, 8);
	if (rc)
		goto out;
	for (size_t i = 0; !rc && i < n; i++) {
		size_t rl = strlen(readable[i]);

		if (rl > NAME_MAX_BYTES)
			continue;
		memcpy(kb + 8, readable[i], rl);
		k.mv_size = 8 + rl;
		v.mv_data = cont[i];
		v.mv_size = strlen(cont[i]);
		rc = mdb_put(t->txn, c->names, &k, &v, 0);
		if (rc || !meta || !meta[i] || strlen(cont[i]) > NAME_MAX_BYTES)
			continue;
		/* NUL never starts an escaped name: no clash with names. */
		kb[8] = '\0';
		memcpy(kb + 9, cont[i], strlen(cont[i]));
		k.mv_size = 9 + strlen(cont[i]);
		v.mv_data = meta[i];
		v.mv_size = strlen(meta[i]);
		rc = mdb_put(t->txn, c->names, &k, &v, 0);
	}
	if (!rc) {
		k.mv_size = 8;
		v.mv_data = &now_ns;
		v.mv_size = sizeof(now_ns);
		rc = mdb_put(t->txn, c->names, &k, &v, 0);
	}
out:
	if (rc) {
		cache_abort(t);
		return fail("storing readable names", rc);
	}
	return cache_commit(t);
}

int cache_names_state(struct cache *c, uint64_t sh, int64_t *fetched_ns)
{
	unsigned char kb[8];
	MDB_val k = {8, kb}, v;
	MDB_txn *txn;
	int rc = read_begin(c, &txn);

	if (rc)
		return rc;
	put_be64(kb, sh);
	rc = mdb_get(txn, c->names, &k, &v);
	if (!rc && v.mv_size == sizeof(*fetched_ns))
		memcpy(fetched_ns, v.mv_data, sizeof(*fetched_ns));
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return rc ? fail("reading readable names", rc) : 0;
}

static int take_name(const MDB_val *v, void *out)
{
	char *cont = out;
	size_t n = v->mv_size > NAME_MAX_BYTES ? NAME_MAX_BYTES : v->mv_size;

	memcpy(cont, v->mv_data, n);
	cont[n] = '\0';
	return 0;
}

int cache_names_get(struct cache *c, uint64_t sh, const char *readable,
		    char *cont)
{
	unsigned char kb[KEY_MAX];
	size_t rl = strlen(readable);
	MDB_val k = {8 + rl, kb};

	if (rl > NAME_MAX_BYTES)
		return -ENOENT;
	put_be64(kb, sh);
	memcpy(kb + 8, readable, rl);
	return lookup(c, c->names, 0, &k, take_name, cont,
		      "reading readable names");
}

static const void *decode_name(const MDB_val *v, void *scratch)
{
	take_name(v, scratch);
	return scratch;
}

int cache_names_foreach(struct cache *c, uint64_t sh, cache_name_fn fn,
			void *ctx)
{
	unsigned char prefix[8];

	put_be64(prefix, sh);
	return walk_prefix(c, c->names, prefix, 8, decode_name, fn, ctx);
}

int64_t cache_created(struct cache *c)
{
	return c->created_ns;
}

static int take_text(const MDB_val *v, void *out)
{
	char **text = out;

	*text = strndup(v->mv_data, v->mv_size);
	return *text ? 0 : -ENOMEM;
}

int cache_names_meta(struct cache *c, uint64_t sh, const char *cont,
		     char **meta)
{
	unsigned char kb[KEY_MAX];
	size_t cl = strlen(cont);
	MDB_val k = {9 + cl, kb};

	*meta = NULL;
	if (cl > NAME_MAX_BYTES)
		return -ENOENT;
	put_be64(kb, sh);
	kb[8] = '\0';
	memcpy(kb + 9, cont, cl);
	return lookup(c, c->names, 0, &k, take_text, meta,
		      "reading readable names");
}
