/* jobs.c - keyed background jobs that callers can join and leave. */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
	struct job *next;
	struct jobs *js;
	char *key;
	int (*fn)(void *);
	void *arg;
	void (*release)(void *);
	int done, result;
	int refs; /* the thread and every waiter */
};

struct jobs {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct job *running;
	int nrunning;
};

int jobs_new(struct jobs **out)
{
	struct jobs *js = calloc(1, sizeof(*js));
	pthread_condattr_t ca;

	if (!js)
		return -ENOMEM;
	pthread_mutex_init(&js->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&js->changed, &ca);
	pthread_condattr_destroy(&ca);
	*out = js;
	return 0;
}

void jobs_free(struct jobs *js)
{
	if (!js)
		return;
	pthread_mutex_lock(&js->lock);
	while (js->nrunning)
		pthread_cond_wait(&js->changed, &js->lock);
	pthread_mutex_unlock(&js->lock);
	pthread_cond_destroy(&js->changed);
	pthread_mutex_destroy(&js->lock);
	free(js);
}

/* Drops one reference; called with the lock held. */
static void unref(struct job *j)
{
	if (--j->refs)
		return;
	if (j->release)
		j->release(j->arg);
	free(j->key);
	free(j);
}

static void *job_main(void *p)
{
	struct job *j = p;
	struct jobs *js = j->js;
	struct job **pp;
	int rc = j->fn(j->arg);

	pthread_mutex_lock(&js->lock);
	for (pp = &js->running; *pp != j; pp = &(*pp)->next)
		;
	*pp = j->next;
	j->done = 1;
	j->result = rc;
	js->nrunning--;
	unref(j);
	pthread_cond_broadcast(&js->changed);
	pthread_mutex_unlock(&js->lock);
	return NULL;
}

static struct job *find(struct jobs *js, const char *key)
{
	for (struct job *j = js->running; j; j = j->next)
		if (!strcmp(j->key, key))
			return j;
	return NULL;
}

int jobs_running(struct jobs *js, const char *key)
{
	int found;

	pthread_mutex_lock(&js->lock);
	found = find(js, key) != NULL;
	pthread_mutex_unlock(&js->lock);
	return found;
}

/* Starts a thread for a new job; called with the lock held. */
static int start(struct jobs *js, struct job *j)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (rc)
		return -rc;
	j->next = js->running;
	js->running = j;
	js->nrunning++;
	return 0;
}

int jobs_run(struct jobs *js, const char *key, int (*fn)(void *), void *arg,
	     void (*release)(void *), int wait, jobs_cancel_fn cancel,
	     void *cancel_arg)
{
	struct job *j;
	int rc;

	pthread_mutex_lock(&js->lock);
	j = find(js, key);
	if (j) {
		if (release)
			release(arg);
	} else {
		j = calloc(1, sizeof(*j));
		if (!j || !(j->key = strdup(key))) {
			free(j);
			pthread_mutex_unlock(&js->lock);
			if (release)
				release(arg);
			return -ENOMEM;
		}
		j->js = js;
		j->fn = fn;
		j->arg = arg;
		j->release = release;
		j->refs = 1;
		rc = start(js, j);
		if (rc) {
			pthread_mutex_unlock(&js->lock);
			unref(j);
			return rc == -ENOMEM ? rc : -EAGAIN;
		}
	}
	if (!wait) {
		pthread_mutex_unlock(&js->lock);
		return 0;
	}
	j->refs++;
	while (!j->done) {
		struct timespec until;

		if (cancel && cancel(cancel_arg))
			break;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 100000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&js->changed, &js->lock, &until);
	}
	rc = j->done ? j->result : -EINTR;
	unref(j);
	pthread_mutex_unlock(&js->lock);
	return rc;
}
