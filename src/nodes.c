/* nodes.c - the kernel-visible inode table with hashed, stable numbers. */
#include "nodes.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "hash.h"
#include "log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct node **buckets;
static size_t nbuckets, count;

static uint64_t hash_names(enum node_type type, char kind, const char *owner,
			   const char *cont, const char *msg, const char *att)
{
	unsigned char head[2] = {(unsigned char)type, (unsigned char)kind};
	const char *parts[4] = {owner, cont, msg, att};
	uint64_t h = hash_update(HASH_SEED, head, 2);

	for (int i = 0; i < 4 && parts[i]; i++)
		h = hash_update(h, parts[i], strlen(parts[i]) + 1);
	return hash_final(h);
}

uint64_t nodes_ino(enum node_type type, char kind, const char *owner,
		   const char *cont, const char *msg, const char *att)
{
	uint64_t ino;

	if (type == NODE_ROOT)
		return INO_ROOT;
	if (type == NODE_LIST)
		return kind == 'u' ? INO_USERS : INO_TEAMS;
	/* 63 bits, so tools that keep inode numbers signed are safe too. */
	ino = hash_names(type, kind, owner, cont, msg, att) >> 1;
	return ino < 16 ? ino + 16 : ino;
}

static struct node *node_new(enum node_type type, char kind, const char *owner,
			     const char *cont, const char *msg, const char *att)
{
	size_t lo = owner ? strlen(owner) + 1 : 0;
	size_t lc = cont ? strlen(cont) + 1 : 0;
	size_t lm = msg ? strlen(msg) + 1 : 0;
	size_t la = att ? strlen(att) + 1 : 0;
	struct node *n = calloc(1, sizeof(*n) + lo + lc + lm + la);
	char *p;

	if (!n)
		return NULL;
	n->ino = nodes_ino(type, kind, owner, cont, msg, att);
	n->type = type;
	n->kind = kind;
	p = n->names;
	if (owner) {
		n->owner = memcpy(p, owner, lo);
		p += lo;
		n->sh = cache_scope_hash(kind, owner);
	}
	if (cont) {
		n->cont = memcpy(p, cont, lc);
		p += lc;
	}
	if (msg) {
		n->msg = memcpy(p, msg, lm);
		p += lm;
	}
	if (att)
		n->att = memcpy(p, att, la);
	return n;
}

static void insert(struct node *n)
{
	size_t b = n->ino % nbuckets;

	n->hnext = buckets[b];
	buckets[b] = n;
	count++;
}

static int grow(void)
{
	struct node **old = buckets;
	size_t oldn = nbuckets;

	buckets = calloc(oldn * 2, sizeof(*buckets));
	if (!buckets) {
		buckets = old;
		return -ENOMEM;
	}
	nbuckets = oldn * 2;
	count = 0;
	for (size_t i = 0; i < oldn; i++)
		for (struct node *n = old[i], *next; n; n = next) {
			next = n->hnext;
			insert(n);
		}
	free(old);
	return 0;
}

int nodes_init(void)
{
	struct node *root, *users, *teams;

	nbuckets = 1024;
	buckets = calloc(nbuckets, sizeof(*buckets));
	root = node_new(NODE_ROOT, 0, NULL, NULL, NULL, NULL);
	users = node_new(NODE_LIST, 'u', NULL, NULL, NULL, NULL);
	teams = node_new(NODE_LIST, 't', NULL, NULL, NULL, NULL);
	if (!buckets || !root || !users || !teams) {
		free(root);
		free(users);
		free(teams);
		return -ENOMEM;
	}
	/* These three live as long as the mount. */
	root->nlookup = users->nlookup = teams->nlookup = UINT64_MAX / 2;
	insert(root);
	insert(users);
	insert(teams);
	return 0;
}

void nodes_destroy(void)
{
	for (size_t i = 0; i < nbuckets; i++)
		for (struct node *n = buckets[i], *next; n; n = next) {
			next = n->hnext;
			free(n);
		}
	free(buckets);
	buckets = NULL;
	nbuckets = count = 0;
}

static struct node *find(uint64_t ino)
{
	struct node *n;

	for (n = buckets[ino % nbuckets]; n; n = n->hnext)
		if (n->ino == ino)
			return n;
	return NULL;
}

struct node *nodes_get(uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	n = find(ino);
	pthread_mutex_unlock(&lock);
	return n;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

struct node *nodes_ref(enum node_type type, char kind, const char *owner,
		       const char *cont, const char *msg, const char *att)
{
	uint64_t ino = nodes_ino(type, kind, owner, cont, msg, att);
	struct node *n;

	pthread_mutex_lock(&lock);
	n = find(ino);
	if (n && (n->type != type || n->kind != kind ||
		  !same_str(n->owner, owner) || !same_str(n->cont, cont) ||
		  !same_str(n->msg, msg) || !same_str(n->att, att))) {
		log_error("inode number %llu is shared by two paths; one of "
			  "them is unreachable",
			  (unsigned long long)ino);
		n = NULL;
		goto out;
	}
	if (!n) {
		if (count >= nbuckets && grow())
			goto out;
		n = node_new(type, kind, owner, cont, msg, att);
		if (!n)
			goto out;
		insert(n);
	}
	n->nlookup++;
out:
	pthread_mutex_unlock(&lock);
	return n;
}

void nodes_forget(uint64_t ino, uint64_t nl)
{
	struct node **pp, *n;

	if (ino <= INO_TEAMS)
		return;
	pthread_mutex_lock(&lock);
	for (pp = &buckets[ino % nbuckets]; (n = *pp); pp = &n->hnext)
		if (n->ino == ino)
			break;
	if (n) {
		n->nlookup = n->nlookup > nl ? n->nlookup - nl : 0;
		if (!n->nlookup) {
			*pp = n->hnext;
			count--;
			free(n);
		}
	}
	pthread_mutex_unlock(&lock);
}
