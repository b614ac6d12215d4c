/* fetch.c - shared, progressive downloads into an LRU content cache. */
#include "fetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "graph.h"
#include "hash.h"
#include "log.h"
#include "spool.h"

/* One download in progress, shared by its readers. */
struct download {
	struct download *next;
	struct fetcher *f;
	uint64_t key;
	char *path, *what;
	int fd;
	long long have;
	int done, err;
	int refs; /* the download job and every open file */
	char content_type[128];
	char tmp[PATH_MAX], final[PATH_MAX];
};

struct fetcher {
	char *dir;
	long long max_bytes;
	struct graph *graph;
	int offline;
	struct jobs *jobs;
	pthread_mutex_t lock;
	pthread_cond_t grew;
	struct download *downloads;
	unsigned long long started; /* names each download's job */
};

struct fetch_file {
	struct fetcher *f;
	struct download *dl; /* NULL when served from the cache */
	int fd;
	long long size;
};

int fetcher_new(const char *dir, long long max_bytes, struct graph *g,
		int offline, struct fetcher **out)
{
	struct fetcher *f = calloc(1, sizeof(*f));
	pthread_condattr_t ca;
	int rc;

	if (!f || !(f->dir = strdup(dir)) || jobs_new(&f->jobs)) {
		if (f)
			free(f->dir);
		free(f);
		return -ENOMEM;
	}
	rc = spool_open(dir, "content cache");
	if (rc) {
		jobs_free(f->jobs);
		free(f->dir);
		free(f);
		return rc;
	}
	f->max_bytes = max_bytes;
	f->graph = g;
	f->offline = offline;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->grew, &ca);
	pthread_condattr_destroy(&ca);
	*out = f;
	return 0;
}

void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	jobs_free(f->jobs);
	pthread_cond_destroy(&f->grew);
	pthread_mutex_destroy(&f->lock);
	free(f->dir);
	free(f);
}

/* Drops a reference to @dl; called with the lock held. */
static void dl_unref(struct download *dl)
{
	if (--dl->refs)
		return;
	if (dl->fd >= 0)
		close(dl->fd);
	free(dl->path);
	free(dl->what);
	free(dl);
}

static int sink_write(void *ctx, int restart, const char *data, size_t len)
{
	struct download *dl = ctx;
	long long at;

	if (restart && dl->have) {
		pthread_mutex_lock(&dl->f->lock);
		dl->have = 0;
		pthread_mutex_unlock(&dl->f->lock);
		if (ftruncate(dl->fd, 0))
			return -1;
	}
	at = dl->have;
	while (len) {
		ssize_t n = pwrite(dl->fd, data, len, at);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("content cache: cannot write %s: %s", dl->tmp,
				  strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
		at += n;
	}
	pthread_mutex_lock(&dl->f->lock);
	dl->have = at;
	pthread_cond_broadcast(&dl->f->grew);
	pthread_mutex_unlock(&dl->f->lock);
	return 0;
}

static long long sink_offset(void *ctx)
{
	struct download *dl = ctx;

	return dl->have;
}

/* A cached file and what eviction needs to know of it. */
struct entry {
	char name[32];
	long long size;
	time_t used;
};

static int by_use(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (x->used > y->used) - (x->used < y->used);
}

/* Removes least recently used files until the cache fits its limit. */
static void evict(struct fetcher *f, const char *keep)
{
	DIR *d = opendir(f->dir);
	struct entry *list = NULL;
	size_t n = 0, cap = 0;
	long long total = 0;
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.' || !strncmp(e->d_name, "tmp-", 4) ||
		    strlen(e->d_name) >= sizeof(list->name) ||
		    fstatat(dirfd(d), e->d_name, &st, 0))
			continue;
		if (n == cap) {
			struct entry *p;

			cap = cap ? cap * 2 : 64;
			p = realloc(list, cap * sizeof(*p));
			if (!p)
				break;
			list = p;
		}
		strcpy(list[n].name, e->d_name);
		list[n].size = (long long)st.st_blocks * 512;
		list[n].used = st.st_mtime;
		total += list[n].size;
		n++;
	}
	if (total > f->max_bytes) {
		qsort(list, n, sizeof(*list), by_use);
		for (size_t i = 0; i < n && total > f->max_bytes; i++) {
			if (!strcmp(list[i].name, keep))
				continue;
			if (!unlinkat(dirfd(d), list[i].name, 0)) {
				total -= list[i].size;
				log_info("content cache: evicted %s",
					 list[i].name);
			}
		}
	}
	free(list);
	closedir(d);
}

static int run_download(void *arg)
{
	struct download *dl = arg;
	struct fetcher *f = dl->f;
	struct graph_sink sink = {sink_write, sink_offset, dl, ""};
	struct download **pp;
	int rc = graph_download(f->graph, dl->path, dl->what, &sink);

	memcpy(dl->content_type, sink.content_type, sizeof(dl->content_type));
	if (!rc && rename(dl->tmp, dl->final)) {
		log_error("content cache: cannot keep %s: %s", dl->final,
			  strerror(errno));
		rc = -EIO;
	}
	if (rc)
		unlink(dl->tmp);
	pthread_mutex_lock(&f->lock);
	for (pp = &f->downloads; *pp && *pp != dl; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = dl->next;
	dl->done = 1;
	dl->err = rc;
	pthread_cond_broadcast(&f->grew);
	pthread_mutex_unlock(&f->lock);
	if (!rc)
		evict(f, strrchr(dl->final, '/') + 1);
	return rc;
}

static void release_download(void *arg)
{
	struct download *dl = arg;
	struct fetcher *f = dl->f;

	pthread_mutex_lock(&f->lock);
	dl_unref(dl);
	pthread_mutex_unlock(&f->lock);
}

int fetch_open(struct fetcher *f, const char *path, const char *what,
	       struct fetch_file **out)
{
	uint64_t key = hash_bytes(path, strlen(path));
	struct fetch_file *ff = calloc(1, sizeof(*ff));
	struct download *dl;
	char final[PATH_MAX], jobkey[24];
	struct stat st;
	int fd;

	if (!ff)
		return -ENOMEM;
	ff->f = f;
	ff->size = -1;
	snprintf(final, sizeof(final), "%s/%016llx", f->dir,
		 (unsigned long long)key);
	pthread_mutex_lock(&f->lock);
	for (dl = f->downloads; dl; dl = dl->next)
		if (dl->key == key)
			break;
	if (!dl && (fd = open(final, O_RDONLY | O_CLOEXEC)) >= 0) {
		pthread_mutex_unlock(&f->lock);
		/* A read counts as a use, for eviction. */
		futimens(fd, NULL);
		fstat(fd, &st);
		ff->fd = fd;
		ff->size = st.st_size;
		*out = ff;
		return 0;
	}
	if (!dl) {
		if (f->offline) {
			pthread_mutex_unlock(&f->lock);
			free(ff);
			log_info("%s: not in the content cache, and offline",
				 what);
			return -EIO;
		}
		dl = calloc(1, sizeof(*dl));
		if (!dl || !(dl->path = strdup(path)) ||
		    !(dl->what = strdup(what))) {
			if (dl)
				free(dl->path);
			free(dl);
			pthread_mutex_unlock(&f->lock);
			free(ff);
			return -ENOMEM;
		}
		dl->f = f;
		dl->key = key;
		strcpy(dl->final, final);
		snprintf(dl->tmp, sizeof(dl->tmp), "%s/tmp-%016llx", f->dir,
			 (unsigned long long)key);
		dl->fd = open(dl->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0600);
		if (dl->fd < 0) {
			int rc = -errno;

			log_error("content cache: cannot create %s: %s",
				  dl->tmp, strerror(errno));
			free(dl->path);
			free(dl->what);
			free(dl);
			pthread_mutex_unlock(&f->lock);
			free(ff);
			return rc;
		}
		dl->refs = 2; /* the job and this file */
		dl->next = f->downloads;
		f->downloads = dl;
		/* The table above dedups; every download is a job of its own */
		snprintf(jobkey, sizeof(jobkey), "d%llu", ++f->started);
		pthread_mutex_unlock(&f->lock);
		jobs_run(f->jobs, jobkey, run_download, dl, release_download, 0,
			 NULL, NULL);
	} else {
		dl->refs++;
		pthread_mutex_unlock(&f->lock);
	}
	ff->dl = dl;
	ff->fd = -1;
	*out = ff;
	return 0;
}

/*
 * Waits until @dl holds @want bytes or ended; called with the lock held.
 * Returns 0 or -EINTR.
 */
static int wait_for(struct fetcher *f, struct download *dl, long long want,
		    jobs_cancel_fn cancel, void *arg)
{
	while (!dl->done && dl->have < want) {
		struct timespec until;

		if (cancel && cancel(arg))
			return -EINTR;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 100000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f->grew, &f->lock, &until);
	}
	return 0;
}

ssize_t fetch_read(struct fetch_file *ff, char *buf, size_t size, off_t off,
		   jobs_cancel_fn cancel, void *arg)
{
	struct download *dl = ff->dl;
	long long have;
	int fd = ff->fd;
	ssize_t got = 0;

	if (dl) {
		int rc;

		pthread_mutex_lock(&ff->f->lock);
		rc = wait_for(ff->f, dl, (long long)off + (long long)size,
			      cancel, arg);
		if (!rc && dl->done && dl->err)
			rc = dl->err;
		have = dl->have;
		fd = dl->fd;
		pthread_mutex_unlock(&ff->f->lock);
		if (rc)
			return rc;
		if (off >= have)
			return 0;
		if ((long long)size > have - off)
			size = (size_t)(have - off);
	}
	while (size) {
		ssize_t n = pread(fd, buf + got, size, off + got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += n;
		size -= (size_t)n;
	}
	return got;
}

long long fetch_size(struct fetch_file *ff, jobs_cancel_fn cancel, void *arg)
{
	struct download *dl = ff->dl;
	long long size;
	int rc;

	if (!dl)
		return ff->size;
	pthread_mutex_lock(&ff->f->lock);
	rc = wait_for(ff->f, dl, LLONG_MAX, cancel, arg);
	if (!rc && dl->err)
		rc = dl->err;
	size = dl->have;
	pthread_mutex_unlock(&ff->f->lock);
	return rc ? rc : size;
}

void fetch_close(struct fetch_file *ff)
{
	if (!ff)
		return;
	if (ff->dl) {
		pthread_mutex_lock(&ff->f->lock);
		dl_unref(ff->dl);
		pthread_mutex_unlock(&ff->f->lock);
	} else if (ff->fd >= 0) {
		close(ff->fd);
	}
	free(ff);
}

const char *fetch_content_type(struct fetch_file *ff)
{
	return ff->dl && ff->dl->done && ff->dl->content_type[0]
		       ? ff->dl->content_type
		       : NULL;
}
