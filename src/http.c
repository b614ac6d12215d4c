/* http.c - libcurl exchanges with bounded time, size and redirects. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct sink {
	struct http_response *rs;
	size_t cap, max;
	int overflow;
	CURL *h;
	const struct http_request *rq;
	int started;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (s->rq->sink) {
		long status = 0;

		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			int first = !s->started;

			s->started = 1;
			return s->rq->sink(s->rq->sink_ctx, status, first, data,
					   len)
				       ? 0
				       : len;
		}
	}
	if (s->rs->len + len > s->max) {
		s->overflow = 1;
		return 0;
	}
	if (s->rs->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		char *p;

		while (cap < s->rs->len + len + 1)
			cap *= 2;
		p = realloc(s->rs->body, cap);
		if (!p)
			return 0;
		s->rs->body = p;
		s->cap = cap;
	}
	memcpy(s->rs->body + s->rs->len, data, len);
	s->rs->len += len;
	s->rs->body[s->rs->len] = '\0';
	return len;
}

/* Reads "Retry-After: <seconds | HTTP date>". */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_response *rs = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	char value[128];

	if (len > sizeof(name) - 1 && len < sizeof(value) + sizeof(name) &&
	    !strncasecmp(data, name, sizeof(name) - 1)) {
		size_t vl = len - (sizeof(name) - 1);
		char *end;
		long secs;

		memcpy(value, data + sizeof(name) - 1, vl);
		value[vl] = '\0';
		value[strcspn(value, "\r\n")] = '\0';
		secs = strtol(value, &end, 10);
		if (end != value && *end == '\0' && secs >= 0) {
			rs->retry_after = secs;
		} else {
			time_t when = curl_getdate(value, NULL);

			if (when > 0) {
				time_t now = time(NULL);

				rs->retry_after = when > now ? when - now : 0;
			}
		}
	}
	return len;
}

/* Ends a transfer early when the request's cancel flag is raised. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	const volatile int *cancel = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return cancel && *cancel;
}

CURL *http_handle_new(void)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "teamsfs/" TEAMSFS_VERSION);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	return h;
}

int http_exchange(CURL *h, const struct http_request *rq,
		  struct http_response *rs)
{
	struct sink s = {rs, 0, rq->max_body, 0, h, rq, 0};
	char range[32];
	char *location = NULL;
	CURLcode rc;

	memset(rs, 0, sizeof(*rs));
	rs->retry_after = -1;
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, rq->headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, rs->error);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq->cancel);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, rq->cancel ? 0L : 1L);
	if (rq->post)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->post);
	else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (rq->head)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	snprintf(range, sizeof(range), "%lld-", rq->range_from);
	curl_easy_setopt(h, CURLOPT_RANGE, rq->range_from > 0 ? range : NULL);
	rc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_RANGE, NULL);
	{
		curl_off_t cl = -1;

		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		rs->content_length = cl;
	}
	if (rq->head)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location) ==
		    CURLE_OK &&
	    location)
		rs->location = strdup(location);
	location = NULL;
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &location) ==
		    CURLE_OK &&
	    location)
		rs->content_type = strdup(location);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	if (rq->post) {
		/* Do not keep a pointer to a body that may hold a secret. */
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	if (s.overflow)
		snprintf(rs->error, sizeof(rs->error),
			 "answer larger than %zu bytes", rq->max_body);
	else if (rc != CURLE_OK && !rs->error[0])
		snprintf(rs->error, sizeof(rs->error), "%s",
			 curl_easy_strerror(rc));
	if (rc != CURLE_OK)
		return -EIO;
	if (!rs->body) {
		rs->body = calloc(1, 1);
		if (!rs->body)
			return -ENOMEM;
	}
	return 0;
}

void http_response_free(struct http_response *rs)
{
	free(rs->body);
	free(rs->location);
	free(rs->content_type);
	rs->location = rs->content_type = NULL;
	rs->body = NULL;
	rs->len = 0;
}

static int host_is_loopback(const char *host)
{
	if (!strcasecmp(host, "localhost") || !strcmp(host, "[::1]") ||
	    !strcmp(host, "::1"))
		return 1;
	return !strncmp(host, "127.", 4) &&
	       strspn(host, "0123456789.") == strlen(host);
}

int http_url_allowed(const char *url, char *why, size_t whylen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = -1;

	if (!u)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_ALLOW_SPACE) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0)) {
		snprintf(why, whylen, "'%s' is not a URL", url);
	} else if (!strcasecmp(scheme, "https")) {
		ok = 0;
	} else if (!strcasecmp(scheme, "http") && host_is_loopback(host)) {
		ok = 0;
	} else {
		snprintf(why, whylen,
			 "'%s' must use https (plain http is allowed for "
			 "loopback hosts only)",
			 url);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* Writes "scheme://host:port" of @url into @out; returns -1 if not a URL. */
static int origin(const char *url, char *out, size_t n)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -1;

	if (u && !curl_url_set(u, CURLUPART_URL, url, CURLU_ALLOW_SPACE) &&
	    !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
	    !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
		for (char *p = scheme; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		for (char *p = host; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		snprintf(out, n, "%s://%s:%s", scheme, host, port);
		rc = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

int http_same_origin(const char *a, const char *b)
{
	char oa[512], ob[512];

	return !origin(a, oa, sizeof(oa)) && !origin(b, ob, sizeof(ob)) &&
	       !strcmp(oa, ob);
}
