/*
 * test_cache.c - the LMDB cache: newest wins, listings, scopes, reopen, a
 * chat held by several scopes stored once, a schema 1 cache converted.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "check.h"
#include "hash.h"
#include "render.h"

static int count_cb(void *ctx, const char *name, size_t len, const void *rec)
{
	(void)name, (void)len, (void)rec;
	(*(int *)ctx)++;
	return 0;
}

static int names_cb(void *ctx, const char *name, size_t len, const void *rec)
{
	(void)rec;
	strncat(ctx, name, len);
	strcat(ctx, ",");
	return 0;
}

/* Stores compact JSON @data; checks what cache_msg_put() did. */
static void put(struct cache *c, uint64_t sh, const char *cont,
		const char *name, int64_t t, const char *data, unsigned want)
{
	struct cache_txn *tx;
	unsigned done = 99;
	int rc;

	CHECK(cache_write_begin(c, &tx) == 0);
	rc = cache_msg_put(tx, sh, cont, "id", name, t, data, strlen(data),
			   &done);
	if (rc)
		fprintf(stderr, "put %s/%s: %s\n", cont, name, strerror(-rc));
	CHECK(rc == 0);
	if (done != want)
		fprintf(stderr, "put %s/%s: done %#x, want %#x\n", cont, name,
			done, want);
	CHECK(done == want);
	CHECK(cache_commit(tx) == 0);
}

/* Checks that scope @sh serves @name with the file bytes of @json. */
static void served(struct cache *c, uint64_t sh, const char *cont,
		   const char *name, const char *json, int64_t mtime)
{
	size_t want = render_pretty_len(json, strlen(json)), len;
	char *exp = malloc(want + 1), *data = NULL;
	struct msg_stat ms;

	render_pretty(json, strlen(json), exp, want);
	exp[want] = '\0';
	CHECK(cache_msg_stat(c, sh, cont, name, &ms) == 0);
	CHECK(ms.size == want && ms.mtime_ns == mtime);
	CHECK(cache_msg_read(c, sh, cont, name, &data, &len) == 0);
	CHECK(data && len == want && !strcmp(data, exp));
	free(data);
	CHECK(cache_msg_json(c, sh, cont, name, &data, &len) == 0);
	CHECK(data && len == strlen(json) && !strcmp(data, json));
	free(data);
	free(exp);
}

#define NEW CACHE_MSG_NEW
#define STORED CACHE_MSG_STORED
#define FIRST CACHE_MSG_FIRST
#define NEW_CONT CACHE_MSG_NEW_CONT

/*
 * A group chat (a thread id) exported under two members is stored once; a
 * member who joined late holds fewer of its messages; each user's own
 * "48:notes" stays apart.
 */
static void test_shared(struct cache *c)
{
	uint64_t a = cache_scope_hash('u', "ann"),
		 b = cache_scope_hash('u', "bo");
	const char *chat = "19:abc@thread.v2";
	unsigned long long before, after;
	char names[256] = "";
	struct cont_rec cr;
	struct msg_stat ms;
	struct cache_txn *tx;
	struct att att = {.kind = ATT_INLINE, .name = "card.json"};
	char msg[NAME_MAX_BYTES + 1];
	int64_t tm;
	int n = 0;

	CHECK(cache_msg_count(c, &before) == 0);
	put(c, a, chat, "1.json", 10, "{\"id\":\"1\",\"v\":[1,{}]}",
	    NEW | STORED | FIRST | NEW_CONT);
	put(c, a, chat, "2.json", 20, "{\"id\":\"2\"}", NEW | STORED | FIRST);
	/* Bo joined late: only message 2, as it was; then an edit of it. */
	put(c, b, chat, "2.json", 20, "{\"id\":\"2\"}", NEW | NEW_CONT);
	put(c, b, chat, "2.json", 30, "{\"id\":\"2\",\"e\":1}", STORED);
	/* Ann's crawl sends the older copy again: the newer stays. */
	put(c, a, chat, "2.json", 20, "{\"id\":\"2\"}", 0);
	CHECK(cache_msg_count(c, &after) == 0 && after == before + 2);
	served(c, a, chat, "1.json", "{\"id\":\"1\",\"v\":[1,{}]}", 10);
	served(c, a, chat, "2.json", "{\"id\":\"2\",\"e\":1}", 30);
	served(c, b, chat, "2.json", "{\"id\":\"2\",\"e\":1}", 30);
	CHECK(cache_msg_stat(c, b, chat, "1.json", &ms) == -ENOENT);
	CHECK(cache_msg_foreach(c, b, chat, names_cb, names) == 0);
	CHECK_STR(names, "2.json,");
	names[0] = '\0';
	CHECK(cache_msg_foreach(c, a, chat, names_cb, names) == 0);
	CHECK_STR(names, "1.json,2.json,");
	CHECK(cache_cont_get(c, a, chat, &cr) == 0 && cr.messages == 2);
	CHECK(cache_cont_get(c, b, chat, &cr) == 0 && cr.messages == 1 &&
	      cr.newest_ns == 30);

	/* Attachments go with the shared message; a scope sees those of the
	 * messages it holds. */
	att.data = strdup("{}\n");
	att.len = 3;
	CHECK(cache_write_begin(c, &tx) == 0);
	CHECK(cache_att_replace(tx, a, chat, "1.json", "1.attachments", &att, 1,
				10) == 0);
	CHECK(cache_att_replace(tx, b, chat, "2.json", "2.attachments", &att, 1,
				30) == 0);
	CHECK(cache_commit(tx) == 0);
	free(att.data);
	CHECK(cache_attdir_get(c, a, chat, "1.attachments", msg, &tm) == 0);
	CHECK_STR(msg, "1.json");
	CHECK(cache_attdir_get(c, b, chat, "1.attachments", msg, &tm) ==
	      -ENOENT);
	CHECK(cache_attdir_get(c, a, chat, "2.attachments", msg, &tm) == 0 &&
	      tm == 30);
	CHECK(cache_attdir_foreach(c, a, chat, count_cb, &n) == 0 && n == 2);
	n = 0;
	CHECK(cache_attdir_foreach(c, b, chat, count_cb, &n) == 0 && n == 1);

	/* The self chat has one id for every user: kept apart. */
	put(c, a, "48:notes", "5.json", 1, "\"ann's\"",
	    NEW | STORED | FIRST | NEW_CONT);
	put(c, b, "48:notes", "5.json", 1, "\"bo's\"",
	    NEW | STORED | FIRST | NEW_CONT);
	served(c, a, "48:notes", "5.json", "\"ann's\"", 1);
	served(c, b, "48:notes", "5.json", "\"bo's\"", 1);
	/* The same time and other bytes: the later copy wins. */
	put(c, a, "48:notes", "5.json", 1, "\"ann's, again\"", STORED);
	served(c, a, "48:notes", "5.json", "\"ann's, again\"", 1);
}

/* -- a cache as schema 1 wrote it ------------------------------------- */

static void be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void raw_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen,
		    const void *v, size_t vlen)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};

	CHECK(mdb_put(txn, dbi, &key, &val, 0) == 0);
}

/* Schema 1: msgs <sh><hash of container><name> -> mtime + file bytes. */
static void v1_msg(MDB_txn *txn, MDB_dbi msgs, MDB_dbi conts, uint64_t sh,
		   const char *cont, const char *name, int64_t mtime,
		   const char *bytes)
{
	unsigned char k[300], v[4096];
	struct cont_rec cr = {mtime, 1};

	be64(k, sh);
	be64(k + 8, hash_bytes(cont, strlen(cont)));
	memcpy(k + 16, name, strlen(name));
	memcpy(v, &mtime, 8);
	memcpy(v + 8, bytes, strlen(bytes));
	raw_put(txn, msgs, k, 16 + strlen(name), v, 8 + strlen(bytes));
	memcpy(k + 8, cont, strlen(cont));
	raw_put(txn, conts, k, 8 + strlen(cont), &cr, sizeof(cr));
}

/* The file bytes teamsfs served for compact JSON @json. */
static char *file_of(const char *json)
{
	size_t n = render_pretty_len(json, strlen(json));
	char *out = malloc(n + 1);

	render_pretty(json, strlen(json), out, n);
	out[n] = '\0';
	return out;
}

static void make_v1(const char *dir, uint32_t version)
{
	uint64_t a = cache_scope_hash('u', "ann"),
		 b = cache_scope_hash('u', "bo");
	const char *chat = "19:g@thread.v2";
	char *group = file_of("{\"id\":\"1\",\"x\":[1,{}]}");
	char *ann = file_of("{\"id\":\"7\",\"who\":\"ann\"}");
	char *bo = file_of("{\"id\":\"7\",\"who\":\"bo\"}");
	MDB_dbi meta, conts, msgs, attdirs, atts;
	unsigned char k[300], v[300];
	int64_t created = 1234;
	MDB_env *env;
	MDB_txn *txn;
	struct {
		uint8_t kind;
		uint8_t pad[3];
		uint32_t source_len, type_len, id_len;
		int64_t mtime_ns;
		int64_t size;
	} att = {ATT_INLINE, {0}, 0, 0, 0, 5, 3};

	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 12);
	CHECK(mdb_env_open(env, dir, MDB_NOTLS, 0600) == 0);
	CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	CHECK(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta) == 0);
	CHECK(mdb_dbi_open(txn, "conts", MDB_CREATE, &conts) == 0);
	CHECK(mdb_dbi_open(txn, "msgs", MDB_CREATE, &msgs) == 0);
	CHECK(mdb_dbi_open(txn, "attdirs", MDB_CREATE, &attdirs) == 0);
	CHECK(mdb_dbi_open(txn, "atts", MDB_CREATE, &atts) == 0);
	raw_put(txn, meta, "schema", 6, &version, sizeof(version));
	raw_put(txn, meta, "created", 7, &created, sizeof(created));
	/* The group chat under both members, each user's own notes, and a
	 * file whose bytes are not what teamsfs renders today. */
	v1_msg(txn, msgs, conts, a, chat, "1.json", 5, group);
	v1_msg(txn, msgs, conts, b, chat, "1.json", 5, group);
	v1_msg(txn, msgs, conts, a, "48:notes", "7.json", 6, ann);
	v1_msg(txn, msgs, conts, b, "48:notes", "7.json", 6, bo);
	v1_msg(txn, msgs, conts, a, "%nochat", "8.json", 7, "{ \"odd\": 1 }\n");
	/* An attachment of the group chat's message, under ann. */
	be64(k, a);
	be64(k + 8, hash_bytes(chat, strlen(chat)));
	memcpy(k + 16, "1.attachments", 13);
	memcpy(v, &att.mtime_ns, 8);
	memcpy(v + 8, "1.json", 6);
	raw_put(txn, attdirs, k, 29, v, 14);
	be64(k + 16, hash_bytes("1.json", 6));
	memcpy(k + 24, "card.json", 9);
	memcpy(v, &att, sizeof(att));
	memcpy(v + sizeof(att), "{}\n", 3);
	raw_put(txn, atts, k, 33, v, sizeof(att) + 3);
	CHECK(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
	free(group);
	free(ann);
	free(bo);
}

/* A schema 1 cache opens converted, serving the very same bytes. */
static void test_v1(void)
{
	char dir[] = "/tmp/teamsfs-test-cache1-XXXXXX", cmd[300];
	uint64_t a = cache_scope_hash('u', "ann"),
		 b = cache_scope_hash('u', "bo");
	const char *chat = "19:g@thread.v2";
	unsigned long long count;
	char msg[NAME_MAX_BYTES + 1], *data;
	struct cont_rec cr;
	struct att_rec ar;
	struct cache *c;
	size_t len;
	int64_t tm;

	CHECK(mkdtemp(dir) != NULL);
	make_v1(dir, 1);
	for (int round = 0; round < 2; round++) {
		CHECK(cache_open(dir, &c) == 0);
		CHECK(cache_created(c) == 1234);
		served(c, a, chat, "1.json", "{\"id\":\"1\",\"x\":[1,{}]}", 5);
		served(c, b, chat, "1.json", "{\"id\":\"1\",\"x\":[1,{}]}", 5);
		served(c, a, "48:notes", "7.json",
		       "{\"id\":\"7\",\"who\":\"ann\"}", 6);
		served(c, b, "48:notes", "7.json",
		       "{\"id\":\"7\",\"who\":\"bo\"}", 6);
		/* Bytes the renderer would not make are kept as they were. */
		CHECK(cache_msg_read(c, a, "%nochat", "8.json", &data, &len) ==
		      0);
		CHECK(data && !strcmp(data, "{ \"odd\": 1 }\n"));
		free(data);
		CHECK(cache_msg_count(c, &count) == 0 && count == 4);
		CHECK(cache_cont_get(c, b, chat, &cr) == 0 && cr.messages == 1);
		CHECK(cache_attdir_get(c, b, chat, "1.attachments", msg, &tm) ==
		      0);
		CHECK_STR(msg, "1.json");
		CHECK(cache_att_get(c, b, chat, "1.json", "card.json", &ar) ==
		      0);
		CHECK(ar.kind == ATT_INLINE && ar.size == 3);
		cache_att_rec_free(&ar);
		CHECK(cache_att_read(c, a, chat, "1.json", "card.json", &data,
				     &len) == 0);
		CHECK(len == 3 && !memcmp(data, "{}\n", 3));
		free(data);
		cache_close(c);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);

	/* A schema this teamsfs does not know is refused, not misread. */
	CHECK(mkdtemp(strcpy(dir, "/tmp/teamsfs-test-cache3-XXXXXX")) != NULL);
	make_v1(dir, 3);
	CHECK(cache_open(dir, &c) == -EPROTO);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	char dir[] = "/tmp/teamsfs-test-cache-XXXXXX", path[300];
	char names[512] = "";
	struct cache *c;
	struct cache_txn *tx;
	struct scope_rec r;
	struct msg_stat ms;
	struct cont_rec cr;
	struct list_entry e;
	struct list_state ls;
	struct stat st;
	uint64_t a = cache_scope_hash('u', "alice"),
		 b = cache_scope_hash('u', "bob");
	char *data;
	size_t len;
	int n = 0;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(cache_open(dir, &c) == 0);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	put(c, a, "chat1", "m1.json", 100, "\"old\"",
	    NEW | STORED | FIRST | NEW_CONT);
	put(c, a, "chat1", "m1.json", 200, "\"newer\"", STORED);
	put(c, a, "chat1", "m1.json", 150, "\"stale\"", 0);
	put(c, a, "chat1", "m1.json", 200, "\"newer\"", 0);
	put(c, a, "chat1", "m2.json", 50, "\"two\"", NEW | STORED | FIRST);
	put(c, b, "chat1", "m1.json", 10, "\"bob's\"",
	    NEW | STORED | FIRST | NEW_CONT);

	CHECK(cache_msg_stat(c, a, "chat1", "m1.json", &ms) == 0);
	CHECK(ms.size == 8 && ms.mtime_ns == 200);
	CHECK(cache_msg_read(c, a, "chat1", "m1.json", &data, &len) == 0);
	CHECK(len == 8 && !memcmp(data, "\"newer\"\n", 8));
	free(data);
	CHECK(cache_msg_read(c, b, "chat1", "m1.json", &data, &len) == 0);
	CHECK(len == 8 && !memcmp(data, "\"bob's\"\n", 8));
	free(data);
	CHECK(cache_msg_stat(c, a, "chat1", "nope.json", &ms) == -ENOENT);
	{
		/* A name no file can have is simply not there. */
		char longname[400];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		CHECK(cache_cont_get(c, a, longname, &cr) == -ENOENT);
		CHECK(cache_msg_stat(c, a, "chat1", longname, &ms) == -ENOENT);
		CHECK(cache_list_get(c, 'u', longname, &e) == -ENOENT);
	}
	CHECK(cache_msg_stat(c, a, "chat2", "m1.json", &ms) == -ENOENT);

	CHECK(cache_cont_get(c, a, "chat1", &cr) == 0);
	CHECK(cr.newest_ns == 200 && cr.messages == 2);
	CHECK(cache_msg_foreach(c, a, "chat1", names_cb, names) == 0);
	CHECK_STR(names, "m1.json,m2.json,");
	CHECK(cache_cont_foreach(c, a, count_cb, &n) == 0 && n == 1);

	/* Scopes and lists. */
	CHECK(cache_scope_get(c, 'u', "alice", &r) == 0 && r.flags == 0);
	CHECK(cache_write_begin(c, &tx) == 0);
	r.flags = SCOPE_COMPLETE;
	r.messages = 2;
	r.next_link = "https://graph/next?$skiptoken=x%3d";
	CHECK(cache_scope_put(tx, 'u', "alice", &r) == 0);
	CHECK(cache_list_put(tx, 'u', "alice", "id-a", "Alice",
			     "alice@contoso.com") == 0);
	CHECK(cache_list_put(tx, 'u', "bob", "id-b", NULL, NULL) == 0);
	CHECK(cache_list_put(tx, 't', "team", "id-t", "Team", "Team") == 0);
	CHECK(cache_list_complete(tx, 'u', 2, 5) == 0);
	CHECK(cache_commit(tx) == 0);

	cache_close(c);
	CHECK(cache_open(dir, &c) == 0);
	CHECK(cache_scope_get(c, 'u', "alice", &r) == 0);
	CHECK(r.flags == SCOPE_COMPLETE && r.messages == 2);
	CHECK(r.next_link &&
	      !strcmp(r.next_link, "https://graph/next?$skiptoken=x%3d"));
	free(r.next_link);
	CHECK(cache_list_get(c, 'u', "alice", &e) == 0);
	CHECK_STR(e.id, "id-a");
	CHECK(e.display && !strcmp(e.display, "Alice"));
	CHECK(e.label && !strcmp(e.label, "alice@contoso.com"));
	cache_list_entry_free(&e);
	CHECK(cache_list_get(c, 'u', "bob", &e) == 0);
	CHECK(!e.display && !e.label);
	cache_list_entry_free(&e);
	CHECK(cache_list_get(c, 'u', "carol", &e) == -ENOENT);

	/* Readable names are replaced whole. */
	{
		char *r1[] = {"Budget talk", "Ann Lee"},
		     *c1[] = {"19:a", "19:b"};
		char *r2[] = {"Ann Lee"}, *c2[] = {"19:c"}, cont[256];
		int64_t when = 0;

		CHECK(cache_names_state(c, a, &when) == -ENOENT);
		char *m2[] = {"{\"chatType\":\"group\"}"}, *meta;

		CHECK(cache_names_replace(c, a, r1, c1, NULL, 2, 7) == 0);
		CHECK(cache_names_replace(c, a, r2, c2, m2, 1, 8) == 0);
		CHECK(cache_names_meta(c, a, "19:c", &meta) == 0);
		CHECK(meta && !strcmp(meta, m2[0]));
		free(meta);
		CHECK(cache_names_meta(c, a, "19:a", &meta) == -ENOENT);
		CHECK(cache_names_state(c, a, &when) == 0 && when == 8);
		CHECK(cache_names_get(c, a, "Ann Lee", cont) == 0);
		CHECK_STR(cont, "19:c");
		CHECK(cache_names_get(c, a, "Budget talk", cont) == -ENOENT);
		CHECK(cache_names_get(c, b, "Ann Lee", cont) == -ENOENT);
	}
	names[0] = '\0';
	CHECK(cache_list_foreach(c, 'u', names_cb, names) == 0);
	CHECK_STR(names, "alice,bob,");
	CHECK(cache_list_state(c, 'u', &ls) == 0 && ls.complete &&
	      ls.count == 2 && ls.fetched_ns == 5);
	CHECK(cache_list_state(c, 't', &ls) == 0 && !ls.complete);

	/* An aborted write leaves nothing behind. */
	CHECK(cache_write_begin(c, &tx) == 0);
	{
		unsigned done;

		CHECK(cache_msg_put(tx, a, "chat9", "id", "x.json", 1, "1", 1,
				    &done) == 0 &&
		      done == (NEW | STORED | FIRST | NEW_CONT));
	}
	cache_abort(tx);
	CHECK(cache_cont_get(c, a, "chat9", &cr) == -ENOENT);
	test_shared(c);
	cache_close(c);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK(system(path) == 0);
	test_v1();
	return CHECK_DONE();
}
