/* test_cache.c - the LMDB cache: newest wins, listings, scopes, reopen. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "check.h"

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

static void put(struct cache *c, uint64_t sh, const char *cont,
		const char *name, int64_t t, const char *data, int want)
{
	struct cache_txn *tx;
	int nc;

	CHECK(cache_write_begin(c, &tx) == 0);
	CHECK(cache_msg_put(tx, sh, cont, "id", name, t, data, strlen(data),
			    &nc) == want);
	CHECK(cache_commit(tx) == 0);
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

	put(c, a, "chat1", "m1.json", 100, "old\n", 1);
	put(c, a, "chat1", "m1.json", 200, "newer\n", 2);
	put(c, a, "chat1", "m1.json", 150, "stale\n", 0);
	put(c, a, "chat1", "m2.json", 50, "two\n", 1);
	put(c, b, "chat1", "m1.json", 10, "bob's\n", 1);

	CHECK(cache_msg_stat(c, a, "chat1", "m1.json", &ms) == 0);
	CHECK(ms.size == 6 && ms.mtime_ns == 200);
	CHECK(cache_msg_read(c, a, "chat1", "m1.json", &data, &len) == 0);
	CHECK(len == 6 && !memcmp(data, "newer\n", 6));
	free(data);
	CHECK(cache_msg_read(c, b, "chat1", "m1.json", &data, &len) == 0);
	CHECK(len == 6 && !memcmp(data, "bob's\n", 6));
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
		int nc;

		CHECK(cache_msg_put(tx, a, "chat9", "id", "x.json", 1, "x", 1,
				    &nc) == 1 &&
		      nc == 1);
	}
	cache_abort(tx);
	CHECK(cache_cont_get(c, a, "chat9", &cr) == -ENOENT);
	cache_close(c);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK(system(path) == 0);
	return CHECK_DONE();
}
