/*
 * test_nodes.c - the inode table: stable numbers, lookup counts, shared
 * names, and the limit on leaf nodes with its least recently used victims.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hash.h"
#include "nodes.h"
#include "spill.h"

static const char owner[] = "6ca41874-6c53-4d4d-8be7-1fb3687e999f";
static const char chat[] = "19:39e1a2cb-7953_6ca41874@unq.gbl.spaces";

static struct path msg_path(const char *msg)
{
	return (struct path){NODE_MSG, 'u', owner, chat, msg, NULL};
}

static uint64_t ref_msg(int i)
{
	char name[32];
	struct path p;

	snprintf(name, sizeof(name), "%d.json", i);
	p = msg_path(name);
	return nodes_ref(&p);
}

static void test_numbers(void)
{
	struct path root = {NODE_ROOT, 0, NULL, NULL, NULL, NULL};
	struct path users = {NODE_LIST, 'u', NULL, NULL, NULL, NULL};
	struct path teams = {NODE_LIST, 't', NULL, NULL, NULL, NULL};
	struct path m = msg_path("1.json"), m2 = msg_path("2.json");
	unsigned char head[2] = {NODE_MSG, 'u'};
	uint64_t h = hash_update(HASH_SEED, head, 2);

	CHECK(nodes_ino(&root) == INO_ROOT);
	CHECK(nodes_ino(&users) == INO_USERS);
	CHECK(nodes_ino(&teams) == INO_TEAMS);
	/* The documented formula: the numbers on disk depend on it. */
	h = hash_update(h, owner, sizeof(owner));
	h = hash_update(h, chat, sizeof(chat));
	h = hash_update(h, "1.json", 7);
	CHECK(nodes_ino(&m) == hash_final(h) >> 1);
	CHECK(nodes_ino(&m) != nodes_ino(&m2));
}

static void test_ref_get_forget(void)
{
	struct path a = msg_path("1.json"), b = msg_path("2.json"), q;
	struct node_path np, np2;
	struct path *got = &np.p, *got2 = &np2.p;
	struct path att = {NODE_ATT,	    'u',	 owner, chat,
			   "1.attachments", "report.pdf"};
	uint64_t ia, ib, iatt;

	CHECK(!nodes_init(0, NULL));
	ia = nodes_ref(&a);
	CHECK(ia == nodes_ino(&a));
	CHECK(nodes_ref(&a) == ia);
	ib = nodes_ref(&b);
	iatt = nodes_ref(&att);
	CHECK(!nodes_get(ia, &np));
	CHECK(got->type == NODE_MSG && got->kind == 'u');
	CHECK_STR(got->owner, owner);
	CHECK_STR(got->cont, chat);
	CHECK_STR(got->msg, "1.json");
	CHECK(!got->att);
	CHECK(!nodes_get(ib, &np2));
	CHECK_STR(got2->owner, owner);
	CHECK_STR(got2->msg, "2.json");
	CHECK_STR(got->msg, "1.json"); /* a copy each */
	CHECK(!nodes_get(iatt, &np));
	CHECK_STR(got->msg, "1.attachments");
	CHECK_STR(got->att, "report.pdf");
	q = msg_path("3.json");
	CHECK(nodes_get(nodes_ino(&q), &np) == -ESTALE);
	/* Two lookups: two to forget. */
	nodes_forget(ia, 1);
	CHECK(nodes_known(ia));
	nodes_forget(ia, 1);
	CHECK(!nodes_known(ia));
	CHECK(nodes_known(ib));
	/* The root and the lists are never forgotten. */
	nodes_forget(INO_ROOT, 100);
	CHECK(nodes_known(INO_ROOT));
	nodes_destroy();
}

static void test_victims(void)
{
	struct path cont = {NODE_CONT, 'u', owner, chat, NULL, NULL};
	struct path att = {NODE_ATT,	    'u',    owner, chat,
			   "3.attachments", "a.txt"};
	struct path attdir = {NODE_ATTDIR,     'u', owner, chat,
			      "3.attachments", NULL};
	struct node_victim v[16];
	uint64_t ino[16], icont;
	struct node_path p;
	size_t n;

	CHECK(!nodes_init(8, NULL));
	icont = nodes_ref(&cont);
	for (int i = 0; i < 8; i++)
		ino[i] = ref_msg(i);
	/* Used since: the oldest is now 1.json. */
	CHECK(!nodes_get(ino[0], &p));
	/* Open: never a victim until closed. */
	nodes_open(ino[1]);
	ino[8] = ref_msg(8); /* 8 in the LRU: at the limit */
	ino[9] = ref_msg(9); /* 9: above it */
	/* Down to an eighth below the limit: 7 left, 2 victims. */
	n = nodes_victims(v, 16);
	CHECK(n == 2);
	CHECK(v[0].ino == ino[2] && v[1].ino == ino[3]);
	CHECK(v[0].parent == icont);
	CHECK_STR(v[0].name, "2.json");
	CHECK_STR(v[1].name, "3.json");
	/* Named, not forgotten: still known until the kernel's FORGET. */
	CHECK(nodes_known(ino[2]));
	nodes_forget(ino[2], 1);
	CHECK(!nodes_known(ino[2]));
	/* Looked up again before its FORGET: counted again. */
	CHECK(ref_msg(3) == ino[3]);
	nodes_close(ino[1]);
	/* Attachment files are victims, named in their directory. */
	CHECK(nodes_ref(&attdir));
	CHECK(nodes_ref(&att)); /* 4..7, 0, 8, 9, 3, 1, dir, file: 11 */
	n = nodes_victims(v, 16);
	CHECK(n == 4);
	CHECK(v[0].ino == ino[4] && v[1].ino == ino[5] && v[2].ino == ino[6] &&
	      v[3].ino == ino[7]);
	/* The container is not a leaf: never a victim. */
	nodes_ref(&cont);
	for (int i = 10; i < 13; i++)
		ino[i] = ref_msg(i); /* 0, 8, 9, 3, 1, dir, file, 10..12 */
	n = nodes_victims(v, 16);
	CHECK(n == 3);
	CHECK(v[0].ino == ino[0] && v[1].ino == ino[8] && v[2].ino == ino[9]);
	for (size_t i = 0; i < n; i++)
		CHECK(v[i].ino != icont);
	ino[13] = ref_msg(13);
	ino[14] = ref_msg(14);
	ino[15] = ref_msg(15);
	n = nodes_victims(v, 16); /* 3, 1, dir, file, 10..15 */
	CHECK(n == 3);
	CHECK(v[0].ino == ino[3] && v[1].ino == ino[1]);
	CHECK(v[2].ino == nodes_ino(&attdir) && v[2].parent == icont);
	CHECK_STR(v[2].name, "3.attachments");
	for (int i = 0; i < 4; i++)
		ref_msg(16 + i);
	n = nodes_victims(v, 1);
	CHECK(n == 1 && v[0].ino == nodes_ino(&att));
	CHECK(v[0].parent == nodes_ino(&attdir));
	CHECK_STR(v[0].name, "a.txt");
	nodes_destroy();
}

static size_t waited;
static int returned;

static void *wait_victims(void *arg)
{
	struct node_victim *v = arg;

	waited = nodes_victims(v, 1);
	__atomic_store_n(&returned, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * A run of victims cut short (by FORGETs from elsewhere) must leave the
 * next call waiting for the limit again, not returning 0 as if stopped.
 */
static void test_wait_and_stop(void)
{
	struct node_victim v[4];
	uint64_t ino[12];
	pthread_t th;

	CHECK(!nodes_init(8, NULL));
	for (int i = 0; i < 10; i++)
		ino[i] = ref_msg(i);
	CHECK(nodes_victims(v, 1) == 1 && v[0].ino == ino[0]);
	nodes_forget(ino[5], 1);
	nodes_forget(ino[6], 1); /* 7 left: at the low mark */
	CHECK(!pthread_create(&th, NULL, wait_victims, v));
	usleep(50 * 1000);
	CHECK(!__atomic_load_n(&returned, __ATOMIC_SEQ_CST));
	ino[10] = ref_msg(10);
	ino[11] = ref_msg(11); /* 9: above the limit */
	pthread_join(th, NULL);
	CHECK(waited == 1 && v[0].ino == ino[1]);
	/* Stopped: 0 at once, from now on. */
	nodes_forget(ino[2], 1);
	nodes_forget(ino[3], 1); /* 6 left: below the low mark */
	returned = 0;
	CHECK(!pthread_create(&th, NULL, wait_victims, v));
	nodes_stop_victims();
	pthread_join(th, NULL);
	CHECK(waited == 0);
	ref_msg(12);
	ref_msg(13);
	CHECK(nodes_victims(v, 4) == 0);
	nodes_destroy();
}

/*
 * With a spill, victims leave memory but not the kernel's reach: each is
 * found again by number, with its path and generation, and is known until
 * the mount ends; a forgotten node looked up again counts afresh.
 */
static void test_spill(void)
{
	char dir[] = "/tmp/teamsfs-spill-XXXXXX";
	struct path att = {NODE_ATT,	    'u',
			   owner,	    chat,
			   "3.attachments", "r\xc3\xa9sum\xc3\xa9.pdf"};
	struct node_victim v[16];
	struct node_path np;
	struct spill *sp;
	uint64_t ino[12], iatt;
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(!spill_open(dir, &sp));
	/* Unlinked at once: nothing is left in the directory. */
	CHECK(rmdir(dir) == 0);
	CHECK(!nodes_init(8, sp));
	iatt = nodes_ref(&att);
	nodes_set_gen(iatt, 77);
	for (int i = 0; i < 10; i++)
		ino[i] = ref_msg(i);
	n = nodes_victims(v, 16); /* 11 leaves: down to 7 */
	CHECK(n == 4 && v[0].ino == iatt && v[1].ino == ino[0]);
	CHECK(!nodes_spill(v, n));
	/* Out of memory, still answered; back in the table when asked. */
	CHECK(nodes_known(ino[2]));
	CHECK(!nodes_get(iatt, &np));
	CHECK(np.p.type == NODE_ATT && np.p.kind == 'u');
	CHECK_STR(np.p.owner, owner);
	CHECK_STR(np.p.cont, chat);
	CHECK_STR(np.p.msg, "3.attachments");
	CHECK_STR(np.p.att, "r\xc3\xa9sum\xc3\xa9.pdf");
	CHECK(nodes_gen(iatt) == 77);
	CHECK(!nodes_get(ino[1], &np));
	CHECK_STR(np.p.msg, "1.json");
	/*
	 * The count goes with the node: looked up again from the spill it
	 * counts on, and the kernel's last FORGET removes it, record and all.
	 */
	ino[3] = ref_msg(3); /* 3 was spilled with one reference: now 2 */
	nodes_forget(ino[3], 1);
	CHECK(nodes_known(ino[3]));
	nodes_forget(ino[3], 1);
	CHECK(!nodes_known(ino[3]));
	CHECK(nodes_get(ino[3], &np) == -ESTALE);
	/* Spilled with one reference, forgotten straight from the spill. */
	nodes_forget(ino[2], 1);
	CHECK(!nodes_known(ino[2]));
	CHECK(nodes_get(ino[2], &np) == -ESTALE);
	/* Revived nodes count against the limit and leave again unwritten */
	for (int i = 10; i < 12; i++)
		ino[i] = ref_msg(i);
	n = nodes_victims(v, 16);
	CHECK(n >= 1);
	CHECK(!nodes_spill(v, n));
	for (size_t i = 0; i < n; i++)
		CHECK(nodes_known(v[i].ino));
	CHECK(!nodes_get(iatt, &np));
	CHECK_STR(np.p.att, "r\xc3\xa9sum\xc3\xa9.pdf");
	nodes_destroy();
	spill_close(sp);
}

static int dummies = 100;

/*
 * With a limit of 1, looks up one more file, so that the one used before
 * it goes to the spill.
 */
static void spill_all(void)
{
	struct node_victim v[16];
	size_t n;

	ref_msg(dummies++);
	n = nodes_victims(v, 16);
	CHECK(n >= 1);
	CHECK(!nodes_spill(v, n));
}

/*
 * A file that changed while spilled: its old readers get ESTALE, a new
 * lookup gives the new version to everyone, and when the old inode is
 * forgotten the new one still reads (its count and version are kept, not
 * an older record).
 */
static void test_spill_and_versions(void)
{
	char dir[] = "/tmp/teamsfs-spill-XXXXXX";
	struct node_path np;
	struct spill *sp;
	uint64_t p, other[4];

	CHECK(mkdtemp(dir) != NULL);
	CHECK(!spill_open(dir, &sp));
	CHECK(rmdir(dir) == 0);
	CHECK(!nodes_init(1, sp));
	for (int i = 0; i < 4; i++)
		other[i] = ref_msg(i + 1);
	p = ref_msg(0);
	nodes_set_gen(p, 5);
	spill_all();
	CHECK(!nodes_get(p, &np)); /* from the spill */
	CHECK(nodes_gen(p) == 5);
	spill_all();
	nodes_changed(p); /* a refresh changed it: revived, marked */
	spill_all();
	CHECK(nodes_check_gen(p, 6) == -ESTALE); /* an old reader */
	spill_all();
	CHECK(ref_msg(0) == p); /* a new lookup: 2 references */
	nodes_set_gen(p, 6);
	spill_all();
	CHECK(!nodes_check_gen(p, 6));
	nodes_forget(p, 1); /* the old inode is gone */
	spill_all();
	CHECK(!nodes_get(p, &np));
	CHECK_STR(np.p.msg, "0.json");
	CHECK(!nodes_check_gen(p, 6));
	CHECK(nodes_gen(p) == 6);
	nodes_forget(p, 1);
	CHECK(!nodes_known(p));
	for (int i = 0; i < 4; i++) {
		CHECK(nodes_known(other[i]));
		nodes_forget(other[i], 1);
		CHECK(!nodes_known(other[i]));
	}
	nodes_destroy();
	spill_close(sp);
}

int main(void)
{
	test_numbers();
	test_ref_get_forget();
	test_victims();
	test_wait_and_stop();
	test_spill();
	test_spill_and_versions();
	return CHECK_DONE();
}
