/*
 * http.h - one HTTP exchange over libcurl, the way every teamsfs request is
 * made: http(s) only, no redirects followed, bounded in time and in body
 * size, the Retry-After header read for the caller.
 */
#ifndef TEAMSFS_HTTP_H
#define TEAMSFS_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

/*
 * Takes a piece of a successful (2xx) body as it arrives; @first is set on
 * the first piece of an answer.  Returns nonzero to cut the exchange.
 */
typedef int (*http_sink_fn)(void *ctx, long status, int first, const char *data,
			    size_t len);

struct http_request {
	const char *url;
	struct curl_slist *headers; /* may be NULL */
	const char *post;	    /* form body to POST, or NULL for GET */
	size_t max_body;	    /* a longer body fails the exchange */
	http_sink_fn sink;	    /* 2xx bodies go here, not to memory */
	void *sink_ctx;
	long long range_from;	    /* > 0: ask for the bytes from here on */
	const volatile int *cancel; /* when it becomes nonzero, give up */
	int head;		    /* send HEAD: headers only */
};

struct http_response {
	long status; /* HTTP status, 0 if none arrived */
	char *body;  /* NUL-terminated, malloc'd */
	size_t len;
	long retry_after;	  /* seconds asked to wait, or -1 */
	char *location;		  /* a redirect's target, malloc'd, or NULL */
	char *content_type;	  /* the Content-Type, malloc'd, or NULL */
	long long content_length; /* Content-Length, or -1 */
	char error[CURL_ERROR_SIZE]; /* transport error, for a log line */
};

/* Returns a new curl handle set up for teamsfs, or NULL. */
CURL *http_handle_new(void);

/*
 * Performs @rq on @h and fills @rs (free with http_response_free).  Returns
 * 0 when an HTTP answer arrived, whatever its status, or -EIO when the
 * exchange failed on the way (refused, reset, timed out, cut short, body
 * too large), with rs->error saying which.
 */
int http_exchange(CURL *h, const struct http_request *rq,
		  struct http_response *rs);

void http_response_free(struct http_response *rs);

/*
 * Returns 0 if @url may carry credentials: https, or plain http to a
 * loopback host.  Otherwise returns -1 and writes the reason into @why.
 */
int http_url_allowed(const char *url, char *why, size_t whylen);

/* Returns nonzero if @a and @b have the same scheme, host and port. */
int http_same_origin(const char *a, const char *b);

#endif
