/* core.c - start-up shared by mount, sync and status (see core.h). */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "cache.h"
#include "crawl.h"
#include "graph.h"
#include "http.h"
#include "log.h"
#include "token.h"

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

int core_start(struct core *c, int argc, char **argv, enum opts_mode mode)
{
	struct crawl_config cc;
	struct graph_config gc;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = opts_parse(argc, argv, mode, &c->o);
	if (rc)
		return rc;
	if (c->o.debug)
		log_set_level(LOG_LVL_DEBUG);
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("libcurl could not be initialised");
		return -1;
	}
	if (mode == OPTS_STATUS) {
		struct stat st;

		/* status reads what is there; it creates nothing. */
		if (stat(c->o.cache_dir, &st) || !S_ISDIR(st.st_mode)) {
			log_error("no cache at %s (give the tenant and "
				  "cache_dir= the mount used)",
				  c->o.cache_dir);
			return -1;
		}
	}
	rc = make_dirs(c->o.cache_dir);
	if (rc) {
		log_error("cannot create cache directory %s: %s",
			  c->o.cache_dir, strerror(-rc));
		return -1;
	}
	chmod(c->o.cache_dir, 0700);
	if (cache_open(c->o.cache_dir, &c->cache))
		return -1;
	if (mode == OPTS_STATUS)
		return 0;
	c->scope = token_scope(c->o.graph_url);
	gc = (struct graph_config){c->o.retries, c->o.max_rps, c->o.max_conns,
				   c->o.stall};
	if (!c->scope ||
	    token_source_new(c->o.token_url, c->o.client_id,
			     c->o.secret ? c->o.secret : "", c->scope,
			     &c->tokens) ||
	    graph_new(c->o.graph_url, &gc, c->tokens, &c->graph))
		return -1;
	if (check_sign_in(c->tokens, c->o.offline))
		return -1;
	cc = (struct crawl_config){c->o.top, c->o.model, c->o.offline,
				   c->o.refresh_ns, c->o.overlap_ns};
	if (crawler_new(c->cache, c->graph, &cc, &c->crawler))
		return -1;
	return 0;
}

void core_stop(struct core *c)
{
	crawler_free(c->crawler);
	c->crawler = NULL;
	graph_free(c->graph);
	token_source_free(c->tokens);
	cache_close(c->cache);
	free(c->scope);
	opts_free(&c->o);
	curl_global_cleanup();
}
