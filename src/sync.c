/* sync.c - filling the cache without a mount, and reporting on it. */
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "crawl.h"
#include "graph.h"
#include "log.h"
#include "names.h"
#include "opts.h"

/* One scope to sync. */
struct item {
	char kind;
	char name[NAME_MAX_BYTES + 1];
	char *id;
	int result;
};

struct sync {
	struct cache *cache;
	struct crawler *cr;
	struct graph *graph;
	struct item *items;
	size_t n, cap, next, done, failed;
	pthread_mutex_t lock;
	pthread_cond_t changed;
};

static volatile sig_atomic_t stop_asked;

static void on_signal(int sig)
{
	(void)sig;
	stop_asked = 1;
}

static int stop_requested(void *arg)
{
	(void)arg;
	return stop_asked;
}

static int add_item(struct sync *s, char kind, const char *name, const char *id)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct item *p = realloc(s->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->items = p;
		s->cap = cap;
	}
	memset(&s->items[s->n], 0, sizeof(s->items[0]));
	s->items[s->n].kind = kind;
	snprintf(s->items[s->n].name, sizeof(s->items[0].name), "%s", name);
	s->items[s->n].id = strdup(id);
	if (!s->items[s->n].id)
		return -ENOMEM;
	s->n++;
	return 0;
}

/* Carries the sync while the cache lists users or teams. */
struct collect {
	struct sync *s;
	char kind;
	int rc;
};

static int collect_entry(void *ctx, const char *name, size_t len,
			 const void *rec)
{
	struct collect *c = ctx;
	char buf[NAME_MAX_BYTES + 1];
	struct list_entry e;

	(void)rec;
	snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
	c->rc = cache_list_get(c->s->cache, c->kind, buf, &e);
	if (!c->rc) {
		c->rc = add_item(c->s, c->kind, buf, e.id);
		cache_list_entry_free(&e);
	}
	return c->rc;
}

/* Adds the scopes of @kind: from the option, or from Graph's list. */
static int collect(struct sync *s, char kind, const char *fixed)
{
	struct collect c = {s, kind, 0};
	char **ids, name[NAME_MAX_BYTES + 1];
	int n, rc = 0;

	if (fixed) {
		n = opts_split_ids(fixed, &ids);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			name_from_id(ids[i], strlen(ids[i]), "", name);
			if (!rc)
				rc = add_item(s, kind, name, ids[i]);
			free(ids[i]);
		}
		free(ids);
		return rc;
	}
	rc = crawl_refresh_list(s->cr, kind, stop_requested, NULL);
	if (rc == -ENETDOWN)
		rc = crawl_list(s->cr, kind, stop_requested, NULL);
	if (!rc)
		rc = cache_list_foreach(s->cache, kind, collect_entry, &c);
	return rc ? rc : c.rc;
}

static void *worker(void *arg)
{
	struct sync *s = arg;

	for (;;) {
		struct item *it;
		struct scope_rec r;
		int rc;

		pthread_mutex_lock(&s->lock);
		if (s->next == s->n || stop_asked) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		it = &s->items[s->next++];
		pthread_mutex_unlock(&s->lock);
		rc = cache_scope_get(s->cache, it->kind, it->name, &r);
		free(r.next_link);
		if (!rc && (r.flags & SCOPE_COMPLETE))
			rc = crawl_refresh_scope(s->cr, it->kind, it->name,
						 it->id, stop_requested, NULL);
		else if (!rc)
			rc = crawl_scope(s->cr, it->kind, it->name, it->id,
					 stop_requested, NULL);
		pthread_mutex_lock(&s->lock);
		it->result = rc ? rc : 1;
		s->done++;
		s->failed += rc != 0;
		pthread_cond_broadcast(&s->changed);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Prints one progress report: on a terminal over the last one. */
static void progress(struct sync *s, int tty, time_t start, int last)
{
	struct graph_stats gs;
	time_t now = time(NULL);
	long el = now > start ? (long)(now - start) : 1;
	size_t done = s->done, total = s->n;
	char eta[32] = "?";

	graph_get_stats(s->graph, &gs);
	if (done && done < total)
		snprintf(eta, sizeof(eta), "%lds",
			 (long)((double)el / (double)done *
				(double)(total - done)));
	else if (done == total)
		snprintf(eta, sizeof(eta), "0s");
	if (tty)
		fprintf(stderr,
			"\r%zu/%zu scopes, %llu messages stored, %.1f req/s, "
			"%llu throttled (%llus waited), %zu failed, left %s  "
			"%s",
			done, total, (unsigned long long)crawler_stored(s->cr),
			(double)gs.requests / (double)el,
			(unsigned long long)gs.throttled,
			(unsigned long long)(gs.waited_ms / 1000), s->failed,
			eta, last ? "\n" : "");
	else
		log_notice("sync: %zu/%zu scopes, %llu messages stored, %.1f "
			   "requests/s, %llu throttled, %zu failed, left %s",
			   done, total,
			   (unsigned long long)crawler_stored(s->cr),
			   (double)gs.requests / (double)el,
			   (unsigned long long)gs.throttled, s->failed, eta);
}

int sync_run(struct cache *c, struct crawler *cr, struct graph *g,
	     const struct opts *o)
{
	struct sync s = {.cache = c, .cr = cr, .graph = g};
	unsigned nworkers = o->max_conns ? o->max_conns : 4;
	int tty = isatty(STDERR_FILENO), rc, status = 0;
	pthread_t *threads;
	struct sigaction sa;
	time_t start = time(NULL), shown = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.changed, NULL);
	rc = collect(&s, 'u', o->users);
	if (!rc)
		rc = collect(&s, 't', o->teams);
	if (rc) {
		log_error("sync: cannot list the users and teams: %s",
			  strerror(-rc));
		status = 1;
		goto out;
	}
	threads = calloc(nworkers, sizeof(*threads));
	if (!threads) {
		status = 1;
		goto out;
	}
	for (unsigned i = 0; i < nworkers; i++)
		pthread_create(&threads[i], NULL, worker, &s);
	pthread_mutex_lock(&s.lock);
	while (s.done < s.n && !stop_asked) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&s.changed, &s.lock, &until);
		if (time(NULL) - shown >= (tty ? 1 : 30)) {
			shown = time(NULL);
			progress(&s, tty, start, 0);
		}
	}
	pthread_mutex_unlock(&s.lock);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	progress(&s, tty, start, 1);
	for (size_t i = 0; i < s.n; i++)
		if (s.items[i].result < 0)
			fprintf(stderr, "teamsfs: sync: %s %s failed: %s\n",
				s.items[i].kind == 'u' ? "user" : "team",
				s.items[i].id, strerror(-s.items[i].result));
	if (stop_asked) {
		fprintf(stderr,
			"teamsfs: sync: interrupted; %zu of %zu scopes "
			"done; run it again to continue\n",
			s.done, s.n);
		status = 1;
	} else if (s.failed) {
		fprintf(stderr, "teamsfs: sync: %zu of %zu scopes failed\n",
			s.failed, s.n);
		status = 1;
	}
out:
	for (size_t i = 0; i < s.n; i++)
		free(s.items[i].id);
	free(s.items);
	pthread_cond_destroy(&s.changed);
	pthread_mutex_destroy(&s.lock);
	return status;
}

static void print_time(int64_t ns, char *buf, size_t n)
{
	time_t secs = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!ns) {
		snprintf(buf, n, "-");
		return;
	}
	gmtime_r(&secs, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Prints one scope line of the status. */
static int status_line(void *ctx, const char *name, size_t len, const void *rec)
{
	const struct scope_rec *r = rec;
	char done[32], newest[32];

	(void)ctx;
	print_time(r->completed_ns, done, sizeof(done));
	print_time(r->newest_ns, newest, sizeof(newest));
	printf("%-8s %-10s %9llu %6u  %-20s  %-20s  %.*s\n",
	       name[0] == 'u' ? "user" : "team",
	       r->flags & SCOPE_COMPLETE ? "complete" : "partial",
	       (unsigned long long)r->messages, r->containers, done, newest,
	       (int)len - 1, name + 1);
	return 0;
}

/* Bytes the files directly in @dir take on disk. */
static long long dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long long sum = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct stat st;

		if (!fstatat(dirfd(d), e->d_name, &st, 0) &&
		    S_ISREG(st.st_mode))
			sum += (long long)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

int status_run(struct cache *c, const struct opts *o)
{
	long long bytes = 0, content;
	char path[4096];
	int rc;

	printf("%-8s %-10s %9s %6s  %-20s  %-20s  %s\n", "scope", "state",
	       "messages", "dirs", "last complete crawl", "newest message",
	       "user or team");
	rc = cache_scope_foreach(c, status_line, NULL);
	if (!rc)
		rc = cache_size(c, &bytes);
	snprintf(path, sizeof(path), "%s/content", o->cache_dir);
	content = dir_bytes(path);
	printf("cache %s: %lld bytes of messages, %lld bytes of attachments\n",
	       o->cache_dir, bytes, content);
	return rc ? 1 : 0;
}
