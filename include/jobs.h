/*
 * jobs.h - background work, at most one job per key.
 *
 * A job runs in a thread of its own, so a caller that stops waiting (its
 * request was interrupted) does not stop the work, and work started with
 * nobody waiting (a refresh) goes on alone.  Asking for a key whose job is
 * running joins that job instead of starting another: this is what makes
 * crawls single-flight.
 */
#ifndef TEAMSFS_JOBS_H
#define TEAMSFS_JOBS_H

struct jobs;

/* Returns nonzero when the caller should stop waiting. */
typedef int (*jobs_cancel_fn)(void *arg);

/* Creates an empty job table.  Returns 0 or -ENOMEM. */
int jobs_new(struct jobs **out);

/* Waits for every running job to end, then frees the table. */
void jobs_free(struct jobs *js);

/*
 * Runs @fn(@arg) as the job @key unless a job with that key is running;
 * then @arg is released with @release (may be NULL) without being run.  With
 * @wait, waits for the job (the new or the running one) and returns its
 * result, or -EINTR as soon as @cancel(@cancel_arg) is nonzero (checked
 * every 100 ms; @cancel may be NULL).  Without @wait returns 0 at once.
 * Returns -ENOMEM or -EAGAIN when no job could be started.
 */
int jobs_run(struct jobs *js, const char *key, int (*fn)(void *), void *arg,
	     void (*release)(void *), int wait, jobs_cancel_fn cancel,
	     void *cancel_arg);

/* Returns nonzero if a job with @key is running. */
int jobs_running(struct jobs *js, const char *key);

#endif
