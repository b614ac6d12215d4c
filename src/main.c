/*
 * main.c - start-up: options, cache, sign-in, then the FUSE session.
 *
 * Start-up fails, with one line and a non-zero exit, on anything a person
 * must fix: bad options, an unusable cache directory, refused credentials.
 * A Graph that cannot be reached is not such a thing: the cache is served.
 */
#include <errno.h>
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

#include "cache.h"
#include "control.h"
#include "crawl.h"
#include "fetch.h"
#include "fs.h"
#include "graph.h"
#include "http.h"
#include "log.h"
#include "opts.h"
#include "token.h"
#include "tree.h"

/* Creates @path and its parents, private to the user. */
static int make_dirs(const char *path)
{
	char *copy = strdup(path);
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (char *p = copy + 1; *p && !rc; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) && errno != EEXIST)
			rc = -errno;
		*p = '/';
	}
	if (!rc && mkdir(copy, 0700) && errno != EEXIST)
		rc = -errno;
	free(copy);
	return rc;
}

/* Scope for the token: the Graph host's ".default", as Azure AD expects. */
static char *token_scope(const char *graph_url)
{
	char why[256], *scope = NULL;
	const char *host = strstr(graph_url, "://");
	size_t n;

	if (!host || http_url_allowed(graph_url, why, sizeof(why)) ||
	    !strncmp(graph_url, "http:", 5))
		return strdup("https://graph.microsoft.com/.default");
	host += 3;
	n = strcspn(host, "/");
	if (asprintf(&scope, "https://%.*s/.default", (int)n, host) < 0)
		return NULL;
	return scope;
}

/* Makes sure the credentials work; unreachable is tolerated. */
static int check_sign_in(struct token_source *ts, int offline)
{
	char header[16384 + 32] = "";
	int rc;

	if (offline)
		return 0;
	rc = token_get(ts, 0, header, sizeof(header));
	explicit_bzero(header, sizeof(header));
	if (rc == -EHOSTUNREACH) {
		log_warning("the identity platform cannot be reached; serving "
			    "what the cache holds");
		return 0;
	}
	return rc;
}

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

int main(int argc, char **argv)
{
	struct opts o;
	struct cache *cache = NULL;
	struct token_source *tokens = NULL;
	struct graph *graph = NULL;
	struct crawler *crawler = NULL;
	struct fetcher *fetcher = NULL;
	struct tree *tree = NULL;
	struct fs *fs = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	struct crawl_config cc;
	struct graph_config gc;
	char *scope = NULL, *content_dir = NULL;
	int rc, status = 1;
	struct rlimit no_core = {0, 0};

	/* Keep the secret out of core files and other users' ptrace. */
	prctl(PR_SET_DUMPABLE, 0);
	setrlimit(RLIMIT_CORE, &no_core);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (argc > 1 && !strcmp(argv[1], "refresh"))
		return control_refresh_main(argc - 1, argv + 1);

	rc = opts_parse(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 1;
	if (o.debug)
		log_set_level(LOG_LVL_DEBUG);
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("libcurl could not be initialised");
		goto out;
	}
	rc = make_dirs(o.cache_dir);
	if (rc) {
		log_error("cannot create cache directory %s: %s", o.cache_dir,
			  strerror(-rc));
		goto out;
	}
	chmod(o.cache_dir, 0700);
	if (cache_open(o.cache_dir, &cache))
		goto out;
	scope = token_scope(o.graph_url);
	gc = (struct graph_config){o.retries, o.max_rps, o.max_conns};
	if (!scope ||
	    token_source_new(o.token_url, o.client_id,
			     o.secret ? o.secret : "", scope, &tokens) ||
	    graph_new(o.graph_url, &gc, tokens, &graph))
		goto out;
	if (check_sign_in(tokens, o.offline))
		goto out;
	cc = (struct crawl_config){o.top, o.model, o.offline, o.refresh_ns,
				   o.overlap_ns};
	if (asprintf(&content_dir, "%s/content", o.cache_dir) < 0) {
		content_dir = NULL;
		goto out;
	}
	if (crawler_new(cache, graph, &cc, &crawler) ||
	    fetcher_new(content_dir, o.att_cache_bytes, graph, o.offline,
			&fetcher) ||
	    tree_new(cache, crawler, fetcher, graph, &o, &tree) ||
	    fs_new(tree, crawler, &o, &fs))
		goto out;

	if (fuse_opt_add_arg(&o.args, "-oro,default_permissions,"
				      "fsname=teamsfs,subtype=teamsfs") ||
	    (o.debug && fuse_opt_add_arg(&o.args, "-odebug")))
		goto out;
	se = fuse_session_new(&o.args, fs_operations(),
			      sizeof(*fs_operations()), fs);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	catch_hup(crawler);
	fs_set_session(fs, se);
	if (fuse_session_mount(se, o.mountpoint)) {
		log_error("cannot mount on %s", o.mountpoint);
		goto out_signals;
	}
	if (!o.foreground) {
		if (fuse_daemonize(0))
			goto out_unmount;
		log_use_syslog();
	}
	log_info("mounted on %s, cache %s", o.mountpoint, o.cache_dir);
	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_unmount;
	fuse_loop_cfg_set_max_threads(loop, 64);
	fuse_loop_cfg_set_idle_threads(loop, 8);
	rc = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	hup_target = NULL;
	/* Stop background crawls before the session they notify goes away. */
	fs_set_session(fs, NULL);
	crawler_free(crawler);
	crawler = NULL;
	fetcher_free(fetcher);
	fetcher = NULL;
	status = rc < 0 ? 1 : 0;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fs_free(fs);
	tree_free(tree);
	if (graph)
		graph_cancel(graph);
	fetcher_free(fetcher);
	crawler_free(crawler);
	graph_free(graph);
	token_source_free(tokens);
	cache_close(cache);
	free(scope);
	free(content_dir);
	opts_free(&o);
	curl_global_cleanup();
	return status;
}
