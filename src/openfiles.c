/* openfiles.c - a few files kept open between reads (see openfiles.h). */
#include "openfiles.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "nodes.h"
#include "tree.h"

struct slot {
	struct tree_file f; /* first: openfiles_put() gets &f */
	uint64_t ino;
	uint64_t changes; /* the change count it is known current at */
	uint64_t used;	  /* when last used, for the least recently used */
	unsigned users;	  /* reads using it now */
	int full;	  /* holds an open file */
	int spare;	  /* allocated on its own: every slot was busy */
};

struct openfiles {
	struct tree *tree;
	pthread_mutex_t lock;
	uint64_t clock;
	unsigned n;
	struct slot slots[];
};

int openfiles_new(struct tree *t, unsigned n, struct openfiles **out)
{
	struct openfiles *o = calloc(1, sizeof(*o) + n * sizeof(o->slots[0]));

	if (!o)
		return -ENOMEM;
	o->tree = t;
	o->n = n;
	pthread_mutex_init(&o->lock, NULL);
	*out = o;
	return 0;
}

void openfiles_free(struct openfiles *o)
{
	if (!o)
		return;
	for (unsigned i = 0; i < o->n; i++)
		if (o->slots[i].full)
			tree_close(&o->slots[i].f);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

/* Opens @ino afresh into @f, checking it is the version the kernel has. */
static int open_file(struct openfiles *o, uint64_t ino, struct tree_file *f,
		     jobs_cancel_fn cancel, void *arg)
{
	struct node_path np;
	int rc;

	rc = nodes_get(ino, &np);
	if (rc)
		return rc;
	rc = tree_open(o->tree, &np.p, f, cancel, arg);
	if (rc || !f->changes)
		return rc;
	rc = nodes_check_gen(ino, nodes_generation(f->size, f->mtime_ns));
	if (rc)
		tree_close(f);
	return rc;
}

/* Returns a slot to fill: an empty one, the least recently used idle one,
 * or NULL when all are busy. */
static struct slot *free_slot(struct openfiles *o)
{
	struct slot *best = NULL;

	for (unsigned i = 0; i < o->n; i++) {
		struct slot *s = &o->slots[i];

		if (!s->full)
			return s;
		if (!s->users && (!best || s->used < best->used))
			best = s;
	}
	if (best) {
		tree_close(&best->f);
		best->full = 0;
	}
	return best;
}

int openfiles_get(struct openfiles *o, uint64_t ino, uint64_t changes,
		  struct tree_file **f, jobs_cancel_fn cancel, void *arg)
{
	struct tree_file fresh;
	struct slot *s;
	int rc;

	pthread_mutex_lock(&o->lock);
	for (unsigned i = 0; i < o->n; i++) {
		s = &o->slots[i];
		if (s->full && s->ino == ino && s->changes == changes) {
			s->users++;
			s->used = ++o->clock;
			pthread_mutex_unlock(&o->lock);
			*f = &s->f;
			return 0;
		}
	}
	pthread_mutex_unlock(&o->lock);

	/* Opening may wait (a download, a transcript): not under the lock. */
	rc = open_file(o, ino, &fresh, cancel, arg);
	if (rc)
		return rc;
	pthread_mutex_lock(&o->lock);
	s = free_slot(o);
	if (!s && (s = calloc(1, sizeof(*s))))
		s->spare = 1;
	if (s) {
		s->f = fresh;
		s->ino = ino;
		s->changes = changes;
		s->used = ++o->clock;
		s->users = 1;
		s->full = 1;
	}
	pthread_mutex_unlock(&o->lock);
	if (!s) {
		tree_close(&fresh);
		return -ENOMEM;
	}
	*f = &s->f;
	return 0;
}

void openfiles_put(struct openfiles *o, struct tree_file *f)
{
	struct slot *s = (struct slot *)f;

	pthread_mutex_lock(&o->lock);
	s->users--;
	/*
	 * An attachment reopens cheaply from the content cache, and a handle
	 * kept here would keep a file that cache evicted on disk.
	 */
	if (!s->users && (s->spare || s->f.fetch)) {
		tree_close(&s->f);
		if (s->spare)
			free(s);
		else
			s->full = 0;
	}
	pthread_mutex_unlock(&o->lock);
}
