/*
 * nodes.c - the kernel-visible inode table: hashed, stable numbers, lookup
 * counts, and the limit on leaf nodes kept in least recently used order.
 */
#include "nodes.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "spill.h"

/* An entry of a hash table: first member of what the table holds. */
struct hentry {
	struct hentry *next;
	uint64_t key;
};

struct htable {
	struct hentry **b;
	size_t nb, count;
};

/*
 * The owner and container names above a node, shared by every node below
 * them: a chat's messages all have the same two, often long, names.
 */
struct dir {
	struct hentry h; /* key: hash of kind, owner and container */
	uint32_t refs;
	char kind;
	const char *owner, *cont;
	char names[];
};

enum node_state {
	ST_HELD,     /* not in the LRU: open, or not a leaf */
	ST_LRU,	     /* a leaf in the LRU, counted against the limit */
	ST_EVICTING, /* named as a victim, not yet forgotten */
};

enum { HAS_MSG = 1, HAS_ATT = 2 };

struct node {
	struct hentry h; /* key: the inode number */
	uint64_t nlookup;
	struct node *prev, *next; /* in the LRU (ST_LRU) */
	struct dir *dir;	  /* NULL above the owners */
	uint32_t opens;
	uint32_t gen; /* last told the kernel; 0: not a file or not yet */
	uint8_t type;
	char kind;
	uint8_t state;
	uint8_t parts;
	uint8_t changed;    /* see nodes_changed() */
	uint8_t has_record; /* the spill has a record of it (maybe older) */
	uint8_t backed;	    /* ... and that record is what the node is now */
	uint32_t epoch;	    /* counts changes, to tell a record is current */
	char names[];	    /* msg, then att, each NUL-terminated, as present */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t over_limit = PTHREAD_COND_INITIALIZER;
static struct htable nodes, dirs;
static struct node lru = {.prev = &lru, .next = &lru}; /* oldest first */
static size_t nlru, limit;
static struct spill *spill;
static int stopped, waiting, draining;

static int ht_init(struct htable *t, size_t nb)
{
	t->b = calloc(nb, sizeof(*t->b));
	t->nb = t->b ? nb : 0;
	t->count = 0;
	return t->b ? 0 : -ENOMEM;
}

static void ht_link(struct htable *t, struct hentry *e)
{
	struct hentry **b = &t->b[e->key % t->nb];

	e->next = *b;
	*b = e;
	t->count++;
}

/* Adds @e, doubling the buckets first when full.  0 or -ENOMEM. */
static int ht_insert(struct htable *t, struct hentry *e)
{
	if (t->count >= t->nb) {
		struct htable n;

		if (ht_init(&n, t->nb * 2))
			return -ENOMEM;
		for (size_t i = 0; i < t->nb; i++)
			for (struct hentry *x = t->b[i], *next; x; x = next) {
				next = x->next;
				ht_link(&n, x);
			}
		free(t->b);
		*t = n;
	}
	ht_link(t, e);
	return 0;
}

static void ht_remove(struct htable *t, struct hentry *e)
{
	struct hentry **pp = &t->b[e->key % t->nb];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	t->count--;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	return s ? hash_update(h, s, strlen(s) + 1) : h;
}

static uint64_t hash_names(enum node_type type, char kind, const char *owner,
			   const char *cont, const char *msg, const char *att)
{
	unsigned char head[2] = {(unsigned char)type, (unsigned char)kind};
	const char *parts[4] = {owner, cont, msg, att};
	uint64_t h = hash_update(HASH_SEED, head, 2);

	for (int i = 0; i < 4 && parts[i]; i++)
		h = hash_str(h, parts[i]);
	return hash_final(h);
}

uint64_t nodes_ino(const struct path *p)
{
	uint64_t ino;

	if (p->type == NODE_ROOT)
		return INO_ROOT;
	if (p->type == NODE_LIST)
		return p->kind == 'u' ? INO_USERS : INO_TEAMS;
	/* 63 bits, so tools that keep inode numbers signed are safe too. */
	ino = hash_names(p->type, p->kind, p->owner, p->cont, p->msg, p->att) >>
	      1;
	return ino < 16 ? ino + 16 : ino;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Finds or makes the shared record of @owner and @cont, one more user. */
static struct dir *dir_get(char kind, const char *owner, const char *cont)
{
	uint64_t key = hash_final(hash_str(
		hash_str(hash_update(HASH_SEED, &kind, 1), owner), cont));
	size_t lo = strlen(owner) + 1, lc = cont ? strlen(cont) + 1 : 0;
	struct dir *d;

	for (struct hentry *e = dirs.b[key % dirs.nb]; e; e = e->next) {
		d = (struct dir *)e;
		if (e->key == key && d->kind == kind &&
		    !strcmp(d->owner, owner) && same_str(d->cont, cont)) {
			d->refs++;
			return d;
		}
	}
	d = malloc(sizeof(*d) + lo + lc);
	if (!d)
		return NULL;
	d->h.key = key;
	d->refs = 1;
	d->kind = kind;
	d->owner = memcpy(d->names, owner, lo);
	d->cont = cont ? memcpy(d->names + lo, cont, lc) : NULL;
	if (ht_insert(&dirs, &d->h)) {
		free(d);
		return NULL;
	}
	return d;
}

static void dir_put(struct dir *d)
{
	if (d && !--d->refs) {
		ht_remove(&dirs, &d->h);
		free(d);
	}
}

static int is_leaf(const struct node *n)
{
	return n->type == NODE_MSG || n->type == NODE_ATTDIR ||
	       n->type == NODE_ATT;
}

static void lru_del(struct node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
	n->state = ST_HELD;
	nlru--;
}

/* Puts leaf @n at the recent end, waking the evictor above the limit. */
static void lru_add(struct node *n)
{
	n->prev = lru.prev;
	n->next = &lru;
	lru.prev->next = n;
	lru.prev = n;
	n->state = ST_LRU;
	nlru++;
	if (limit && nlru > limit && waiting)
		pthread_cond_signal(&over_limit);
}

static void touch(struct node *n)
{
	if (n->state == ST_LRU && lru.prev != n) {
		lru_del(n);
		lru_add(n);
	}
}

/* The node's count or version changed: its spill record, if any, is old. */
static void dirty(struct node *n)
{
	n->backed = 0;
	n->epoch++;
}

static void path_of(const struct node *n, struct path *p)
{
	const char *msg = n->parts & HAS_MSG ? n->names : NULL;

	p->type = (enum node_type)n->type;
	p->kind = n->kind;
	p->owner = n->dir ? n->dir->owner : NULL;
	p->cont = n->dir ? n->dir->cont : NULL;
	p->msg = msg;
	p->att = n->parts & HAS_ATT ? n->names + (msg ? strlen(msg) + 1 : 0)
				    : NULL;
}

static struct node *node_new(const struct path *p, uint64_t ino)
{
	size_t lm = p->msg ? strlen(p->msg) + 1 : 0;
	size_t la = p->att ? strlen(p->att) + 1 : 0;
	struct node *n = calloc(1, sizeof(*n) + lm + la);

	if (!n)
		return NULL;
	if (p->owner && !(n->dir = dir_get(p->kind, p->owner, p->cont))) {
		free(n);
		return NULL;
	}
	n->h.key = ino;
	n->type = (uint8_t)p->type;
	n->kind = p->kind;
	n->parts = (p->msg ? HAS_MSG : 0) | (p->att ? HAS_ATT : 0);
	if (p->msg)
		memcpy(n->names, p->msg, lm);
	if (p->att)
		memcpy(n->names + lm, p->att, la);
	return n;
}

static void node_free(struct node *n)
{
	if (n->state == ST_LRU)
		lru_del(n);
	dir_put(n->dir);
	free(n);
}

int nodes_init(size_t max_leaves, struct spill *sp)
{
	static const struct path fixed[] = {
		{NODE_ROOT, 0, NULL, NULL, NULL, NULL},
		{NODE_LIST, 'u', NULL, NULL, NULL, NULL},
		{NODE_LIST, 't', NULL, NULL, NULL, NULL},
	};

	if (ht_init(&nodes, 1024) || ht_init(&dirs, 64)) {
		nodes_destroy();
		return -ENOMEM;
	}
	limit = max_leaves;
	spill = sp;
	stopped = draining = 0;
	for (size_t i = 0; i < 3; i++) {
		struct node *n = node_new(&fixed[i], nodes_ino(&fixed[i]));

		if (!n) {
			nodes_destroy();
			return -ENOMEM;
		}
		/* These three live as long as the mount. */
		n->nlookup = UINT64_MAX / 2;
		ht_link(&nodes, &n->h);
	}
	return 0;
}

void nodes_destroy(void)
{
	for (size_t i = 0; i < nodes.nb; i++)
		for (struct hentry *e = nodes.b[i], *next; e; e = next) {
			next = e->next;
			node_free((struct node *)e);
		}
	free(nodes.b);
	free(dirs.b);
	memset(&nodes, 0, sizeof(nodes));
	memset(&dirs, 0, sizeof(dirs));
	lru.prev = lru.next = &lru;
	nlru = 0;
}

static struct node *find(uint64_t ino)
{
	struct hentry *e;

	for (e = nodes.b[ino % nodes.nb]; e; e = e->next)
		if (e->key == ino)
			return (struct node *)e;
	return NULL;
}

/* Copies @p into @np, names and all. */
static int copy_path(const struct path *p, struct node_path *np)
{
	const char *from[4] = {p->owner, p->cont, p->msg, p->att};
	const char **to[4] = {&np->p.owner, &np->p.cont, &np->p.msg,
			      &np->p.att};
	size_t used = 0;

	np->p = *p;
	for (int i = 0; i < 4; i++) {
		size_t len = from[i] ? strlen(from[i]) + 1 : 0;

		if (!from[i])
			continue;
		if (len > sizeof(np->names) - used)
			return -ENAMETOOLONG;
		*to[i] = memcpy(np->names + used, from[i], len);
		used += len;
	}
	return 0;
}

/*
 * A node in the spill: type, kind, which names follow, whether it changed,
 * its generation and lookup count, then the names present, each
 * NUL-terminated.
 */
enum { HAS_OWNER = 4, HAS_CONT = 8 };

static size_t pack(const struct node *n, char *buf)
{
	const char *names[4];
	struct path p;
	size_t len = 16;

	path_of(n, &p);
	names[0] = p.owner, names[1] = p.cont, names[2] = p.msg;
	names[3] = p.att;
	buf[0] = (char)p.type;
	buf[1] = p.kind;
	buf[2] = (char)((p.owner ? HAS_OWNER : 0) | (p.cont ? HAS_CONT : 0) |
			n->parts);
	buf[3] = (char)n->changed;
	memcpy(buf + 4, &n->gen, 4);
	memcpy(buf + 8, &n->nlookup, 8);
	for (int i = 0; i < 4; i++)
		if (names[i]) {
			size_t l = strlen(names[i]) + 1;

			if (len + l > SPILL_MAX)
				return 0;
			memcpy(buf + len, names[i], l);
			len += l;
		}
	return len;
}

/* Reads a packed node back: the path in @p points into @buf. */
static int unpack(char *buf, size_t len, struct path *p, struct node *st)
{
	static const int has[4] = {HAS_OWNER, HAS_CONT, HAS_MSG, HAS_ATT};
	const char **names[4] = {&p->owner, &p->cont, &p->msg, &p->att};
	size_t at = 16;

	if (len < 16 || buf[len - 1] != '\0')
		return -EIO;
	memset(p, 0, sizeof(*p));
	p->type = (enum node_type)(unsigned char)buf[0];
	p->kind = buf[1];
	st->changed = (uint8_t)buf[3];
	memcpy(&st->gen, buf + 4, 4);
	memcpy(&st->nlookup, buf + 8, 8);
	for (int i = 0; i < 4; i++)
		if (buf[2] & has[i]) {
			if (at >= len)
				return -EIO;
			*names[i] = buf + at;
			at += strlen(buf + at) + 1;
		}
	return 0;
}

/*
 * Brings node @ino back from the spill into the table, with the lookup
 * count and version it left with; under the lock.  The record stays (the
 * node may leave again unchanged, without a write) until the kernel forgets
 * the node.
 */
static struct node *revive(uint64_t ino)
{
	char buf[SPILL_MAX];
	struct node st = {0};
	struct path p;
	struct node *n;
	ssize_t len;

	if (!spill || ino <= INO_TEAMS)
		return NULL;
	len = spill_get(spill, ino, buf);
	if (len < 0 || unpack(buf, (size_t)len, &p, &st))
		return NULL;
	n = node_new(&p, ino);
	if (!n)
		return NULL;
	if (ht_insert(&nodes, &n->h)) {
		node_free(n);
		return NULL;
	}
	n->gen = st.gen;
	n->changed = st.changed;
	n->nlookup = st.nlookup;
	n->has_record = n->backed = 1;
	if (is_leaf(n))
		lru_add(n);
	return n;
}

/* Finds node @ino in the table or the spill; under the lock. */
static struct node *find_any(uint64_t ino)
{
	struct node *n = find(ino);

	return n ? n : revive(ino);
}

int nodes_get(uint64_t ino, struct node_path *np)
{
	struct node *n;
	struct path p;
	int rc = -ESTALE;

	pthread_mutex_lock(&lock);
	n = find_any(ino);
	if (n) {
		touch(n);
		path_of(n, &p);
		rc = copy_path(&p, np);
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int nodes_known(uint64_t ino)
{
	char buf[SPILL_MAX];
	int known;

	pthread_mutex_lock(&lock);
	known = find(ino) != NULL;
	if (!known && spill && ino > INO_TEAMS)
		known = spill_get(spill, ino, buf) >= 0;
	pthread_mutex_unlock(&lock);
	return known;
}

static int same_path(const struct node *n, const struct path *p)
{
	struct path q;

	path_of(n, &q);
	return q.type == p->type && q.kind == p->kind &&
	       same_str(q.owner, p->owner) && same_str(q.cont, p->cont) &&
	       same_str(q.msg, p->msg) && same_str(q.att, p->att);
}

uint64_t nodes_ref(const struct path *p)
{
	uint64_t ino = nodes_ino(p);
	struct node *n;

	pthread_mutex_lock(&lock);
	n = find_any(ino); /* from the spill, the kernel's count goes on */
	if (n && !same_path(n, p)) {
		log_error("inode number %llu is shared by two paths; one of "
			  "them is unreachable",
			  (unsigned long long)ino);
		ino = 0;
		goto out;
	}
	if (!n) {
		n = node_new(p, ino);
		if (!n || ht_insert(&nodes, &n->h)) {
			if (n)
				node_free(n);
			ino = 0;
			goto out;
		}
	}
	n->nlookup++;
	dirty(n);
	if (n->state == ST_EVICTING)
		n->state = ST_HELD; /* looked up again before its FORGET */
	if (n->state == ST_LRU)
		touch(n);
	else if (is_leaf(n) && !n->opens)
		lru_add(n);
out:
	pthread_mutex_unlock(&lock);
	return ino;
}

/* Drops @nl references to @ino; a spill record to delete goes in @dels */
static void forget_locked(uint64_t ino, uint64_t nl, uint64_t *dels,
			  size_t *ndel)
{
	struct node *n;

	if (ino <= INO_TEAMS)
		return;
	n = find_any(ino); /* from the spill, with its count */
	if (!n)
		return;
	n->nlookup = n->nlookup > nl ? n->nlookup - nl : 0;
	dirty(n);
	if (!n->nlookup) {
		if (n->has_record)
			dels[(*ndel)++] = ino;
		ht_remove(&nodes, &n->h);
		node_free(n);
	}
}

void nodes_forget_many(const struct node_forget *f, size_t n)
{
	uint64_t dels[256];

	while (n) {
		size_t k = n < 256 ? n : 256, ndel = 0;

		pthread_mutex_lock(&lock);
		for (size_t i = 0; i < k; i++)
			forget_locked(f[i].ino, f[i].nlookup, dels, &ndel);
		/* Under the lock: no one may find a forgotten node's record */
		if (ndel && spill)
			spill_del(spill, dels, ndel);
		pthread_mutex_unlock(&lock);
		f += k;
		n -= k;
	}
}

void nodes_forget(uint64_t ino, uint64_t nl)
{
	struct node_forget f = {ino, nl};

	nodes_forget_many(&f, 1);
}

void nodes_open(uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	n = find(ino);
	if (n && is_leaf(n) && !n->opens++ && n->state == ST_LRU)
		lru_del(n);
	pthread_mutex_unlock(&lock);
}

void nodes_close(uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	n = find(ino);
	if (n && is_leaf(n) && n->opens && !--n->opens && n->state == ST_HELD)
		lru_add(n);
	pthread_mutex_unlock(&lock);
}

/* Fills @v with where leaf @n is: its directory's number and its name. */
static void victim_of(const struct node *n, struct node_victim *v)
{
	struct path p, dir;
	const char *name;

	path_of(n, &p);
	dir = p;
	if (p.type == NODE_ATT) {
		dir.type = NODE_ATTDIR;
		dir.att = NULL;
		name = p.att;
	} else {
		dir.type = NODE_CONT;
		dir.msg = NULL;
		name = p.msg;
	}
	v->parent = nodes_ino(&dir);
	v->ino = n->h.key;
	strncpy(v->name, name, sizeof(v->name) - 1);
	v->name[sizeof(v->name) - 1] = '\0';
}

/*
 * Once above the limit, victims are named down to an eighth below it: each
 * invalidation also makes the kernel ask for its directory's attributes
 * again, once, so evicting in runs costs one such call per directory and
 * run instead of one per node.
 */
static size_t low_water(void)
{
	return limit - limit / 8;
}

size_t nodes_victims(struct node_victim *v, size_t max)
{
	size_t got = 0;

	pthread_mutex_lock(&lock);
	for (;;) {
		if (stopped || (draining && nlru > low_water()))
			break;
		draining = limit && nlru > limit;
		if (draining)
			break;
		waiting = 1;
		pthread_cond_wait(&over_limit, &lock);
		waiting = 0;
	}
	while (!stopped && got < max && nlru > low_water()) {
		struct node *n = lru.next;

		lru_del(n);
		n->state = ST_EVICTING;
		victim_of(n, &v[got++]);
	}
	if (nlru <= low_water())
		draining = 0;
	pthread_mutex_unlock(&lock);
	return got;
}

int nodes_spill(const struct node_victim *v, size_t n)
{
	struct spill_rec *r = calloc(n ? n : 1, sizeof(*r));
	uint32_t *epoch = calloc(n ? n : 1, sizeof(*epoch));
	char *buf = malloc((n ? n : 1) * SPILL_MAX);
	size_t k = 0;
	int rc = 0;

	if (!spill || !r || !epoch || !buf) {
		free(r);
		free(epoch);
		free(buf);
		return spill ? -ENOMEM : -ENOSYS;
	}
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n; i++) {
		struct node *x = find(v[i].ino);

		if (!x || x->state != ST_EVICTING || x->backed)
			continue;
		r[k].ino = v[i].ino;
		r[k].data = buf + k * SPILL_MAX;
		r[k].len = pack(x, buf + k * SPILL_MAX);
		epoch[k] = x->epoch;
		if (r[k].len)
			k++;
	}
	pthread_mutex_unlock(&lock);
	/* Written before freed: a request finds each in one or the other. */
	if (k)
		rc = spill_put(spill, r, k);
	pthread_mutex_lock(&lock);
	for (size_t i = 0; !rc && i < n; i++) {
		struct node *x = find(v[i].ino);
		size_t j = 0;

		if (!x || x->state != ST_EVICTING)
			continue;
		while (j < k && r[j].ino != v[i].ino)
			j++;
		if (j < k) {
			x->has_record = 1;
			x->backed = x->epoch == epoch[j];
		}
		if (x->backed && !x->opens) {
			ht_remove(&nodes, &x->h);
			node_free(x);
			continue;
		}
		/* Opened, changed while written, or too long to write: kept. */
		x->state = ST_HELD;
		if (!x->opens)
			lru_add(x);
	}
	pthread_mutex_unlock(&lock);
	free(r);
	free(epoch);
	free(buf);
	return rc;
}

void nodes_stop_victims(void)
{
	pthread_mutex_lock(&lock);
	stopped = 1;
	pthread_cond_broadcast(&over_limit);
	pthread_mutex_unlock(&lock);
}

uint32_t nodes_generation(uint64_t size, int64_t mtime_ns)
{
	uint64_t v[2] = {size, (uint64_t)mtime_ns};
	uint32_t g = (uint32_t)hash_bytes(v, sizeof(v));

	return g ? g : 1;
}

void nodes_set_gen(uint64_t ino, uint32_t gen)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	n = find_any(ino);
	if (n && (n->gen != gen || n->changed)) {
		n->gen = gen;
		n->changed = 0;
		dirty(n);
	}
	pthread_mutex_unlock(&lock);
}

void nodes_changed(uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&lock);
	n = find_any(ino);
	if (n) {
		n->changed = 1;
		dirty(n);
	}
	pthread_mutex_unlock(&lock);
}

int nodes_check_gen(uint64_t ino, uint32_t gen)
{
	struct node *n;
	int rc = 0;

	pthread_mutex_lock(&lock);
	n = find_any(ino);
	if (n && n->gen != gen) {
		if (n->changed && n->gen) {
			rc = -ESTALE;
		} else {
			n->gen = gen;
			dirty(n);
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

uint32_t nodes_gen(uint64_t ino)
{
	struct node *n;
	uint32_t gen = 0;

	pthread_mutex_lock(&lock);
	n = find_any(ino);
	if (n)
		gen = n->gen;
	pthread_mutex_unlock(&lock);
	return gen;
}
