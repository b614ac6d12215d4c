/* opts.c - command line, defaults and the client secret. */
#include "opts.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define GRAPH_DEFAULT "https://graph.microsoft.com/v1.0"

enum { KEY_HELP, KEY_VERSION, KEY_SECRET_ARGV };

#define OPT(t, field)                                                          \
	{                                                                      \
		t, offsetof(struct opts, field), 1                             \
	}

static const struct fuse_opt spec[] = {
	OPT("tenant=%s", tenant),
	OPT("client_id=%s", client_id),
	OPT("client_secret_file=%s", client_secret_file),
	OPT("graph_url=%s", graph_url),
	OPT("token_url=%s", token_url),
	OPT("cache_dir=%s", cache_dir),
	OPT("users=%s", users),
	OPT("teams=%s", teams),
	OPT("model=%s", model),
	OPT("top=%u", top),
	OPT("retries=%u", retries),
	OPT("max_rps=%u", max_rps),
	OPT("max_conns=%u", max_conns),
	OPT("stall_timeout=%u", stall),
	OPT("refresh=%s", refresh),
	OPT("refresh_overlap=%s", overlap),
	OPT("offline", offline),
	OPT("no_xattrs", no_xattrs),
	OPT("no_transcripts", no_transcripts),
	OPT("max_inodes=%u", max_inodes),
	OPT("attachments=%s", attachments),
	OPT("attachment_cache_max=%s", att_cache_max),
	OPT("timeout=%lf", timeout),
	OPT("-f", foreground),
	OPT("-d", debug),
	OPT("debug", debug),
	FUSE_OPT_KEY("client_secret=", KEY_SECRET_ARGV),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END,
};

static const char usage[] =
	"usage: teamsfs [-f] [-d] -o tenant=ID,client_id=ID[,OPTIONS] "
	"MOUNTPOINT\n"
	"\n"
	"Mounts the Microsoft Teams messages of a tenant, read-only.\n"
	"\n"
	"options (-o, comma-separated):\n"
	"  tenant=ID               directory (tenant) id or domain\n"
	"  client_id=ID            application (client) id\n"
	"  client_secret_file=PATH file holding the client secret\n"
	"                          (or set TEAMSFS_CLIENT_SECRET)\n"
	"  graph_url=URL           default " GRAPH_DEFAULT "\n"
	"  token_url=URL           default https://login.microsoftonline.com/"
	"TENANT/oauth2/v2.0/token\n"
	"  cache_dir=DIR           default $XDG_CACHE_HOME/teamsfs/TENANT\n"
	"  users=ID:ID...          show only these users\n"
	"  teams=ID:ID...          show only these teams\n"
	"  model=A|B               getAllMessages licensing model\n"
	"  top=N                   page size to ask for (default 50; 0: let\n"
	"                          Graph choose)\n"
	"  retries=N               retries of a failing request (default 4)\n"
	"  max_rps=N               Graph requests per second at most "
	"(default 50)\n"
	"  max_conns=N             Graph requests at once at most (default 8)\n"
	"  stall_timeout=SECONDS   give up a request that stays silent this\n"
	"                          long (default 30), then retry\n"
	"  refresh=DURATION        refresh what is older than this, in the\n"
	"                          background (default 1h; 0: never)\n"
	"  refresh_overlap=DURATION how far back a refresh looks again\n"
	"                          (default 6h)\n"
	"  timeout=SECONDS         kernel attribute and entry cache time\n"
	"                          (default 60; offline: 86400)\n"
	"  offline                 serve the cache only, no network\n"
	"  no_xattrs               no extended attributes (no user.teamsfs.*)\n"
	"  max_inodes=N            message and attachment inodes teamsfs\n"
	"                          keeps in memory; the least recently used\n"
	"                          beyond go to a spill file on disk, and the\n"
	"                          kernel keeps them (default 262144; 0: no\n"
	"                          limit)\n"
	"  no_transcripts          no /transcripts tree (nor links to it)\n"
	"  attachments=files|links attachments as files fetched on read\n"
	"                          (default), or as .url links that fetch\n"
	"                          nothing\n"
	"  attachment_cache_max=SIZE  content cache limit (default 1G)\n"
	"  allow_other             let other users see the mount\n"
	"\n"
	"  -f                      stay in the foreground, log to stderr\n"
	"  -d                      debug output (implies -f)\n"
	"  -h, --help              this text\n"
	"  -V, --version           the version\n"
	"\n"
	"usage: teamsfs sync -o OPTIONS\n"
	"  fills the cache for every user and team (or those in users= and\n"
	"  teams=) without mounting, showing progress; resumes if interrupted\n"
	"usage: teamsfs status -o tenant=ID[,cache_dir=DIR]\n"
	"  prints, from the cache alone, what each scope holds\n"
	"usage: teamsfs refresh PATH...\n"
	"  refreshes the scopes (users' chats, teams' channels) that the\n"
	"  PATHs in a mounted teamsfs lie in, and waits until done; the mount\n"
	"  root refreshes the users and teams lists and marks every scope "
	"due.\n"
	"  (kill -HUP on the teamsfs process marks everything due as well.)\n";

/* Non-option arguments seen: mount.fuse3 passes "source mountpoint". */
static struct parse_state {
	char *nonopt[2];
	int nnonopt, bad;
} ps;

static int on_arg(void *data, const char *arg, int key,
		  struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	switch (key) {
	case KEY_HELP:
		fputs(usage, stdout);
		exit(0);
	case KEY_VERSION:
		printf("teamsfs %s\n", TEAMSFS_VERSION);
		exit(0);
	case KEY_SECRET_ARGV:
		fprintf(stderr, "teamsfs: error: the client secret is not "
				"accepted on the command line; use "
				"client_secret_file=PATH or "
				"TEAMSFS_CLIENT_SECRET\n");
		ps.bad = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (ps.nnonopt == 2) {
			fprintf(stderr,
				"teamsfs: error: unexpected argument "
				"'%s'\n",
				arg);
			ps.bad = 1;
			return 0;
		}
		ps.nonopt[ps.nnonopt++] = strdup(arg);
		return 0;
	default:
		return 1;
	}
}

/* Reads the first line of @path into a malloc'd string. */
static char *read_secret_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct stat st;

	if (!f) {
		fprintf(stderr,
			"teamsfs: error: cannot read client_secret_file %s: "
			"%s\n",
			path, strerror(errno));
		return NULL;
	}
	if (!fstat(fileno(f), &st) && (st.st_mode & 0077))
		fprintf(stderr,
			"teamsfs: notice: %s can be read by other users; "
			"chmod 600 it\n",
			path);
	n = getline(&line, &cap, f);
	fclose(f);
	if (n <= 0) {
		fprintf(stderr,
			"teamsfs: error: client_secret_file %s is "
			"empty\n",
			path);
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static char *default_cache_dir(const char *tenant)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *dir = NULL;

	if (xdg && *xdg) {
		if (asprintf(&dir, "%s/teamsfs/%s", xdg, tenant) < 0)
			dir = NULL;
	} else if (asprintf(&dir, "%s/.cache/teamsfs/%s",
			    home && *home ? home : "/tmp", tenant) < 0) {
		dir = NULL;
	}
	return dir;
}

/* A unit letter and how many base units it stands for. */
struct unit {
	char letter;
	double scale;
};

static const struct unit durations[] = {
	{'s', 1e9}, {'m', 60e9}, {'h', 3600e9}, {'d', 86400e9}, {0, 0},
};

static const struct unit sizes[] = {
	{'K', 1024.0},
	{'M', 1024.0 * 1024},
	{'G', 1024.0 * 1024 * 1024},
	{'T', 1024.0 * 1024 * 1024 * 1024},
	{0, 0},
};

/*
 * Reads a number with an optional unit letter from @text into @out, in
 * base units (a bare number counts @bare each); NULL gives @dflt.  Returns
 * 0, or -1 after a message naming @what and an @example.
 */
static int parse_scaled(const char *text, const struct unit *units, double bare,
			long long dflt, const char *what, const char *example,
			long long *out)
{
	double v, scale = bare;
	char *end;

	if (!text) {
		*out = dflt;
		return 0;
	}
	v = strtod(text, &end);
	for (const struct unit *u = units; end != text && u->letter; u++)
		if (*end == u->letter) {
			scale = u->scale;
			end++;
			break;
		}
	if (end == text || *end || v < 0 || v * scale > 9e18) {
		fprintf(stderr,
			"teamsfs: error: '%s' is not a %s (such as "
			"%s)\n",
			text, what, example);
		return -1;
	}
	*out = (long long)(v * scale);
	return 0;
}

/* Checks and completes the options; returns 0 or -1 after a message. */
static int finish(struct opts *o, enum opts_mode mode)
{
	char why[512];

	if (!o->tenant || (!o->client_id && mode != OPTS_STATUS)) {
		fprintf(stderr, "teamsfs: error: tenant= and client_id= are "
				"required (see teamsfs --help)\n");
		return -1;
	}
	if (strchr(o->tenant, '/') || !strcmp(o->tenant, ".") ||
	    !strcmp(o->tenant, "..")) {
		fprintf(stderr,
			"teamsfs: error: tenant '%s' is not a tenant "
			"id or domain\n",
			o->tenant);
		return -1;
	}
	if (o->model && strcmp(o->model, "A") && strcmp(o->model, "B")) {
		fprintf(stderr, "teamsfs: error: model must be A or B\n");
		return -1;
	}
	if (!o->graph_url && !(o->graph_url = strdup(GRAPH_DEFAULT)))
		return -1;
	if (!o->client_id && !(o->client_id = strdup("")))
		return -1;
	if (!o->token_url &&
	    asprintf(&o->token_url,
		     "https://login.microsoftonline.com/%s/oauth2/v2.0/token",
		     o->tenant) < 0)
		return -1;
	if (http_url_allowed(o->graph_url, why, sizeof(why)) ||
	    http_url_allowed(o->token_url, why, sizeof(why))) {
		fprintf(stderr, "teamsfs: error: %s\n", why);
		return -1;
	}
	if (!o->cache_dir && !(o->cache_dir = default_cache_dir(o->tenant)))
		return -1;
	if (o->client_secret_file) {
		o->secret = read_secret_file(o->client_secret_file);
		if (!o->secret)
			return -1;
	} else if (getenv("TEAMSFS_CLIENT_SECRET")) {
		o->secret = strdup(getenv("TEAMSFS_CLIENT_SECRET"));
		/* Later children (and /proc/self/environ readers) lose it. */
		unsetenv("TEAMSFS_CLIENT_SECRET");
	} else if (!o->offline && mode != OPTS_STATUS) {
		fprintf(stderr, "teamsfs: error: no client secret: give "
				"client_secret_file=PATH or set "
				"TEAMSFS_CLIENT_SECRET\n");
		return -1;
	}
	if (parse_scaled(o->refresh, durations, 1e9, 3600 * 1000000000LL,
			 "duration", "90s, 15m, 2h, 1d", &o->refresh_ns) ||
	    parse_scaled(o->overlap, durations, 1e9, 6 * 3600 * 1000000000LL,
			 "duration", "90s, 15m, 2h, 1d", &o->overlap_ns))
		return -1;
	if (parse_scaled(o->att_cache_max, sizes, 1, 1LL << 30, "size",
			 "500M or 2G", &o->att_cache_bytes))
		return -1;
	if (o->attachments && strcmp(o->attachments, "files") &&
	    strcmp(o->attachments, "links")) {
		fprintf(stderr, "teamsfs: error: attachments must be files or "
				"links\n");
		return -1;
	}
	if (!o->max_conns) {
		fprintf(stderr, "teamsfs: error: max_conns must be at least "
				"1\n");
		return -1;
	}
	if (o->top > 999) {
		fprintf(stderr, "teamsfs: error: top must be at most 999\n");
		return -1;
	}
	return 0;
}

int opts_parse(int argc, char **argv, enum opts_mode mode, struct opts *o)
{
	int rc = -1;

	memset(o, 0, sizeof(*o));
	o->top = 50;
	o->retries = 4;
	o->max_rps = 50;
	o->max_conns = 8;
	o->stall = 30;
	o->timeout = -1; /* see below */
	o->max_inodes = OPTS_MAX_INODES;
	o->args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	if (fuse_opt_parse(&o->args, o, spec, on_arg) == -1 || ps.bad)
		goto out;
	if (o->debug)
		o->foreground = 1;
	/* Offline nothing changes: names and attributes can stay a day. */
	if (o->timeout < 0)
		o->timeout = o->offline ? 86400.0 : 60.0;
	if (mode != OPTS_MOUNT && ps.nnonopt) {
		fprintf(stderr, "teamsfs: error: unexpected argument '%s'\n",
			ps.nonopt[0]);
		goto out;
	}
	if (mode == OPTS_MOUNT && ps.nnonopt == 0) {
		fprintf(stderr, "teamsfs: error: no mount point given (see "
				"teamsfs --help)\n");
		goto out;
	}
	if (mode == OPTS_MOUNT) {
		o->mountpoint = ps.nonopt[ps.nnonopt - 1];
		ps.nonopt[ps.nnonopt - 1] = NULL;
	}
	/* mount.fuse3 passes "SOURCE MOUNTPOINT": the source may name the
	 * tenant. */
	if (ps.nnonopt == 2 && !o->tenant && strcmp(ps.nonopt[0], "teamsfs"))
		o->tenant = strdup(ps.nonopt[0]);
	if (finish(o, mode))
		goto out;
	rc = 0;
out:
	free(ps.nonopt[0]);
	free(ps.nonopt[1]);
	memset(&ps, 0, sizeof(ps));
	return rc;
}

void opts_free(struct opts *o)
{
	if (o->secret)
		explicit_bzero(o->secret, strlen(o->secret));
	free(o->secret);
	free(o->tenant);
	free(o->client_id);
	free(o->client_secret_file);
	free(o->graph_url);
	free(o->token_url);
	free(o->cache_dir);
	free(o->users);
	free(o->teams);
	free(o->model);
	free(o->refresh);
	free(o->attachments);
	free(o->att_cache_max);
	free(o->overlap);
	free(o->mountpoint);
	fuse_opt_free_args(&o->args);
}

int opts_split_ids(const char *list, char ***out)
{
	char **ids = NULL, *copy = strdup(list ? list : ""), *save, *tok;
	int n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ":", &save); tok;
	     tok = strtok_r(NULL, ":", &save)) {
		char **p = realloc(ids, sizeof(*ids) * (size_t)(n + 2));

		if (!p)
			goto fail;
		ids = p;
		if (!(ids[n] = strdup(tok)))
			goto fail;
		ids[++n] = NULL;
	}
	free(copy);
	if (!ids && !(ids = calloc(1, sizeof(*ids))))
		return -ENOMEM;
	*out = ids;
	return n;
fail:
	for (int i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(copy);
	return -ENOMEM;
}
