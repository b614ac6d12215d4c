/*
 * main.c - the teamsfs command: mount (the default), sync, status and
 * refresh, each on the common start-up of core.h.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "byname.h"
#include "control.h"
#include "core.h"
#include "crawl.h"
#include "fetch.h"
#include "fs.h"
#include "graph.h"
#include "http.h"
#include "log.h"
#include "opts.h"
#include "sync.h"
#include "transcript.h"
#include "tree.h"

static struct crawler *hup_target;

/* SIGHUP: everything crawled so far is refreshed at its next access. */
static void on_hup(int sig)
{
	(void)sig;
	if (hup_target)
		crawl_mark_stale(hup_target);
}

static void catch_hup(struct crawler *cr)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	hup_target = cr;
	sigaction(SIGHUP, &sa, NULL);
}

/* Mounts and serves until unmounted; returns the exit status. */
static int mount_run(struct core *c)
{
	struct fetcher *fetcher = NULL;
	struct byname *byname = NULL;
	struct tree *tree = NULL;
	struct fs *fs = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop;
	struct opts *o = &c->o;
	struct transcripts *transcripts = NULL;
	char *content_dir = NULL, *transcript_dir = NULL;
	int rc, status = 1;

	/*
	 * Listings of large directories are megabytes, freed when closed.
	 * glibc would raise its mmap threshold to their size after the first
	 * free and keep every later one in the heap, resident for good; a
	 * fixed threshold gives them back to the system each time.  Up to 64
	 * FUSE threads would otherwise each get an arena (up to 8 per CPU),
	 * each keeping its own free memory: 4 keep a tar of a million files
	 * at ~35 MiB instead of ~50 (see README.md, Benchmarks).
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 4);
	if (asprintf(&content_dir, "%s/content", o->cache_dir) < 0)
		return 1;
	if (asprintf(&transcript_dir, "%s/transcripts", o->cache_dir) < 0) {
		free(content_dir);
		return 1;
	}
	if (fetcher_new(content_dir, o->att_cache_bytes, c->graph, o->offline,
			&fetcher) ||
	    byname_new(c->cache, c->crawler, c->graph, o->offline, &byname) ||
	    transcripts_new(c->cache, transcript_dir, &transcripts) ||
	    tree_new(c->cache, c->crawler, fetcher, byname, transcripts,
		     c->graph, o, &tree) ||
	    fs_new(tree, c->crawler, o, &fs))
		goto out;
	if (fuse_opt_add_arg(&o->args, "-oro,default_permissions,"
				       "fsname=teamsfs,subtype=teamsfs") ||
	    (o->debug && fuse_opt_add_arg(&o->args, "-odebug")))
		goto out;
	se = fuse_session_new(&o->args, fs_operations(),
			      sizeof(*fs_operations()), fs);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	catch_hup(c->crawler);
	fs_set_session(fs, se);
	if (fuse_session_mount(se, o->mountpoint)) {
		log_error("cannot mount on %s", o->mountpoint);
		goto out_signals;
	}
	if (!o->foreground) {
		if (fuse_daemonize(0))
			goto out_unmount;
		log_use_syslog();
	}
	log_info("mounted on %s, cache %s; the kernel keeps names and "
		 "attributes %g s",
		 o->mountpoint, o->cache_dir, o->timeout);
	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_unmount;
	fuse_loop_cfg_set_max_threads(loop, 64);
	fuse_loop_cfg_set_idle_threads(loop, 8);
	rc = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	status = rc < 0 ? 1 : 0;
out_unmount:
	hup_target = NULL;
	/* Stop background work before the session it notifies goes away. */
	fs_set_session(fs, NULL);
	graph_cancel(c->graph);
	crawler_free(c->crawler);
	c->crawler = NULL;
	fetcher_free(fetcher);
	fetcher = NULL;
	byname_free(byname);
	byname = NULL;
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fs_free(fs);
	tree_free(tree);
	transcripts_free(transcripts);
	if (fetcher || byname) {
		graph_cancel(c->graph);
		fetcher_free(fetcher);
		byname_free(byname);
	}
	free(content_dir);
	free(transcript_dir);
	return status;
}

int main(int argc, char **argv)
{
	struct rlimit no_core = {0, 0};
	enum opts_mode mode = OPTS_MOUNT;
	struct core c;
	int rc, status;

	/* Keep the secret out of core files and other users' ptrace. */
	prctl(PR_SET_DUMPABLE, 0);
	setrlimit(RLIMIT_CORE, &no_core);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (argc > 1 && !strcmp(argv[1], "refresh"))
		return control_refresh_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "sync"))
		mode = OPTS_SYNC;
	else if (argc > 1 && !strcmp(argv[1], "status"))
		mode = OPTS_STATUS;
	if (mode != OPTS_MOUNT) {
		argc--;
		argv++;
	}
	rc = core_start(&c, argc, argv, mode);
	if (rc) {
		core_stop(&c);
		return rc > 0 ? 0 : 1;
	}
	if (mode == OPTS_SYNC)
		status = sync_run(c.cache, c.crawler, c.graph, &c.o);
	else if (mode == OPTS_STATUS)
		status = status_run(c.cache, &c.o);
	else
		status = mount_run(&c);
	core_stop(&c);
	return status;
}
