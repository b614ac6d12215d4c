/*
 * ingest.c - teamsfs's own cost of a cold crawl, without HTTP or the
 * emulator: reads saved getAllMessages pages and times what the crawl does
 * with them.  bench/ingest saves the pages and runs this (README.md,
 * "Benchmarks").
 *
 *   bench-ingest PAGES_DIR [CACHE_DIR]
 *
 * PAGES_DIR holds a directory per scope, "u-<user>" or "t-<team>", of
 * pages in the order Graph served them (file names sort in that order).
 * Prints messages per second of: reading the pages (page.h), the same with
 * json-c alone, what schema 1 did before storing (json-c tree, pretty
 * bytes, facts), and, with CACHE_DIR (which must not exist), reading and
 * storing every page into a new cache there as the crawl does.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"
#include "ingest.h"
#include "page.h"
#include "render.h"

struct scope {
	char kind;
	char *owner;
	char **pages;
	size_t *lens;
	size_t n;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 &&
	    !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int load(const char *dir, struct scope **out, size_t *nout)
{
	struct dirent **ents;
	struct scope *s;
	int n = scandir(dir, &ents, NULL, by_name), k = 0;

	if (n < 0)
		return -errno;
	s = calloc((size_t)n, sizeof(*s));
	for (int i = 0; i < n; i++) {
		const char *d = ents[i]->d_name;
		char path[8192];
		struct dirent **pe;
		int np;

		if ((d[0] != 'u' && d[0] != 't') || d[1] != '-')
			goto next;
		snprintf(path, sizeof(path), "%s/%s", dir, d);
		np = scandir(path, &pe, NULL, by_name);
		if (np < 0)
			goto next;
		s[k].kind = d[0];
		s[k].owner = strdup(d + 2);
		s[k].pages = calloc((size_t)np, sizeof(char *));
		s[k].lens = calloc((size_t)np, sizeof(size_t));
		for (int j = 0; j < np; j++) {
			char file[16384];

			if (pe[j]->d_name[0] != '.') {
				snprintf(file, sizeof(file), "%s/%s", path,
					 pe[j]->d_name);
				s[k].pages[s[k].n] =
					slurp(file, &s[k].lens[s[k].n]);
				if (s[k].pages[s[k].n])
					s[k].n++;
			}
			free(pe[j]);
		}
		free(pe);
		k++;
	next:
		free(ents[i]);
	}
	free(ents);
	*out = s;
	*nout = (size_t)k;
	return 0;
}

static void report(const char *what, unsigned long long msgs, double secs,
		   double cpu_secs)
{
	printf("%-34s %9llu messages in %7.3f s: %9.0f messages/s "
	       "(%.2f us CPU each)\n",
	       what, msgs, secs, (double)msgs / secs,
	       cpu_secs * 1e6 / (double)msgs);
}

/* Reads every page with @how; counts messages and pages the pass read. */
static unsigned long long read_all(struct scope *s, size_t ns,
				   enum page_how how, size_t *fast)
{
	unsigned long long msgs = 0;

	*fast = 0;
	for (size_t i = 0; i < ns; i++)
		for (size_t p = 0; p < s[i].n; p++) {
			struct page *pg;

			if (page_read_messages(s[i].pages[p], s[i].lens[p], how,
					       &pg)) {
				fprintf(stderr,
					"bench-ingest: %s page %zu of "
					"%c-%s is not a page\n",
					how == PAGE_JSONC_ONLY ? "json-c" : "",
					p, s[i].kind, s[i].owner);
				exit(1);
			}
			msgs += pg->n;
			*fast += (size_t)pg->fast;
			page_free(pg);
		}
	return msgs;
}

/* What schema 1 did with a page before storing: tree, facts, pretty. */
static unsigned long long schema1_all(struct scope *s, size_t ns)
{
	unsigned long long msgs = 0;

	for (size_t i = 0; i < ns; i++)
		for (size_t p = 0; p < s[i].n; p++) {
			struct json_object *page =
				page_parse(s[i].pages[p], s[i].lens[p]);
			struct json_object *value;

			if (!page)
				exit(1);
			json_object_object_get_ex(page, "value", &value);
			for (size_t m = 0; m < json_object_array_length(value);
			     m++) {
				struct json_object *o =
					json_object_array_get_idx(value, m);
				struct message_facts f;
				size_t len;

				render_message_facts(o, s[i].kind, &f);
				free(render_json(o, &len));
				msgs++;
			}
			json_object_put(page);
		}
	return msgs;
}

static int store_all(struct scope *s, size_t ns, const char *dir,
		     unsigned long long *msgs)
{
	struct cache *c;
	int rc;

	if (mkdir(dir, 0700))
		return -errno;
	rc = cache_open(dir, &c);
	if (rc)
		return rc;
	*msgs = 0;
	for (size_t i = 0; !rc && i < ns; i++) {
		struct ingest in;

		ingest_init(&in, c, s[i].kind, s[i].owner, 0, NULL, NULL);
		for (size_t p = 0; !rc && p < s[i].n; p++) {
			char next[64];
			struct page *pg;

			snprintf(next, sizeof(next), "https://graph/next/%zu",
				 p + 1);
			rc = page_read_messages(s[i].pages[p], s[i].lens[p],
						PAGE_ANY, &pg);
			if (!rc) {
				*msgs += pg->n;
				rc = ingest_page(&in, pg,
						 p + 1 < s[i].n ? next : NULL);
			}
		}
		ingest_done(&in);
	}
	cache_close(c);
	return rc;
}

int main(int argc, char **argv)
{
	struct scope *s;
	size_t ns, pages = 0, fast;
	unsigned long long msgs;
	double t, c;
	int rc;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench-ingest PAGES_DIR [CACHE_DIR]\n");
		return 2;
	}
	rc = load(argv[1], &s, &ns);
	if (rc) {
		fprintf(stderr, "bench-ingest: %s: %s\n", argv[1],
			strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < ns; i++)
		pages += s[i].n;
	printf("%zu scopes, %zu pages\n", ns, pages);

	t = now(), c = cpu();
	msgs = read_all(s, ns, PAGE_ANY, &fast);
	report("read pages (page.h)", msgs, now() - t, cpu() - c);
	printf("  %zu of %zu pages read by the single pass\n", fast, pages);
	t = now(), c = cpu();
	msgs = read_all(s, ns, PAGE_JSONC_ONLY, &fast);
	report("read pages with json-c only", msgs, now() - t, cpu() - c);
	t = now(), c = cpu();
	msgs = schema1_all(s, ns);
	report("schema 1: json-c tree, pretty bytes", msgs, now() - t,
	       cpu() - c);
	if (argc == 3) {
		t = now(), c = cpu();
		rc = store_all(s, ns, argv[2], &msgs);
		if (rc) {
			fprintf(stderr, "bench-ingest: storing: %s\n",
				strerror(-rc));
			return 1;
		}
		report("read and store (ingest.h)", msgs, now() - t, cpu() - c);
	}
	return 0;
}
