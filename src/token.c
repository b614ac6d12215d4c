/* token.c - client-credentials tokens, renewed before they expire. */
#include "token.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"

#define TOKEN_MAX 16384

struct token_source {
	pthread_mutex_t lock;
	char *url, *client_id, *secret, *scope;
	char *header;	 /* "Bearer <token>" or NULL */
	time_t renew_at; /* ask again from this time on */
	CURL *curl;
};

int token_source_new(const char *token_url, const char *client_id,
		     const char *secret, const char *scope,
		     struct token_source **out)
{
	struct token_source *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return -ENOMEM;
	pthread_mutex_init(&ts->lock, NULL);
	ts->url = strdup(token_url);
	ts->client_id = strdup(client_id);
	ts->secret = strdup(secret);
	ts->scope = strdup(scope);
	if (!ts->url || !ts->client_id || !ts->secret || !ts->scope) {
		token_source_free(ts);
		return -ENOMEM;
	}
	*out = ts;
	return 0;
}

static void wipe_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void token_source_free(struct token_source *ts)
{
	if (!ts)
		return;
	wipe_free(ts->secret);
	wipe_free(ts->header);
	free(ts->url);
	free(ts->client_id);
	free(ts->scope);
	if (ts->curl)
		curl_easy_cleanup(ts->curl);
	pthread_mutex_destroy(&ts->lock);
	free(ts);
}

/* Appends "name=<escaped value>" to the form body in @buf. */
static int form_add(CURL *h, char **buf, size_t *len, const char *name,
		    const char *value)
{
	char *esc = curl_easy_escape(h, value, 0);
	size_t add;
	char *p;

	if (!esc)
		return -ENOMEM;
	add = strlen(name) + strlen(esc) + 2;
	p = realloc(*buf, *len + add + 1);
	if (!p) {
		curl_free(esc);
		return -ENOMEM;
	}
	*buf = p;
	*len += (size_t)snprintf(p + *len, add + 1, "%s%s=%s", *len ? "&" : "",
				 name, esc);
	explicit_bzero(esc, strlen(esc));
	curl_free(esc);
	return 0;
}

/* Logs why the identity platform refused us, without echoing secrets. */
static void log_refusal(const struct http_response *rs)
{
	struct json_object *o = json_tokener_parse(rs->body), *v;
	const char *code = NULL, *desc = NULL;

	if (o && json_object_object_get_ex(o, "error", &v))
		code = json_object_get_string(v);
	if (o && json_object_object_get_ex(o, "error_description", &v))
		desc = json_object_get_string(v);
	log_error("sign-in refused by the identity platform (HTTP %ld, %s): "
		  "%.600s; check tenant, client_id and the client secret",
		  rs->status, code ? code : "no error code",
		  desc ? desc : "no description");
	json_object_put(o);
}

/* Asks for a new token; called with the lock held. */
static int fetch(struct token_source *ts)
{
	struct http_response rs;
	struct http_request rq = {.url = ts->url, .max_body = 1 << 20};
	struct json_object *o = NULL, *tok, *exp;
	char *form = NULL;
	size_t len = 0;
	long lifetime, margin;
	int rc;

	if (!ts->curl && !(ts->curl = http_handle_new()))
		return -ENOMEM;
	if (form_add(ts->curl, &form, &len, "client_id", ts->client_id) ||
	    form_add(ts->curl, &form, &len, "client_secret", ts->secret) ||
	    form_add(ts->curl, &form, &len, "grant_type",
		     "client_credentials") ||
	    form_add(ts->curl, &form, &len, "scope", ts->scope)) {
		wipe_free(form);
		return -ENOMEM;
	}
	rq.post = form;
	rc = http_exchange(ts->curl, &rq, &rs);
	wipe_free(form);
	if (rc) {
		log_debug("token endpoint: %s", rs.error);
		http_response_free(&rs);
		return -EHOSTUNREACH;
	}
	if (rs.status == 400 || rs.status == 401 || rs.status == 403) {
		log_refusal(&rs);
		rc = -EACCES;
		goto out;
	}
	o = json_tokener_parse(rs.body);
	if (rs.status != 200 || !o ||
	    !json_object_object_get_ex(o, "access_token", &tok) ||
	    !json_object_is_type(tok, json_type_string) ||
	    json_object_get_string_len(tok) > TOKEN_MAX) {
		log_error("token endpoint answered HTTP %ld without a usable "
			  "token",
			  rs.status);
		rc = -EIO;
		goto out;
	}
	lifetime = json_object_object_get_ex(o, "expires_in", &exp)
			   ? (long)json_object_get_int64(exp)
			   : 3599;
	if (lifetime <= 0)
		lifetime = 60;
	wipe_free(ts->header);
	if (asprintf(&ts->header, "Bearer %s", json_object_get_string(tok)) <
	    0) {
		ts->header = NULL;
		rc = -ENOMEM;
		goto out;
	}
	/*
	 * Renew with a margin: five minutes, or a fifth of short lifetimes,
	 * and never less than two seconds (times here are whole seconds).
	 */
	margin = lifetime > 1500 ? 300 : lifetime / 5;
	if (margin < 2)
		margin = 2;
	ts->renew_at = time(NULL) + lifetime - margin;
	log_info("new access token, valid for %ld s", lifetime);
	rc = 0;
out:
	json_object_put(o);
	if (rs.body)
		explicit_bzero(rs.body, rs.len);
	http_response_free(&rs);
	return rc;
}

int token_get(struct token_source *ts, int renew, char *buf, size_t n)
{
	int rc = 0;

	pthread_mutex_lock(&ts->lock);
	if (!ts->header || time(NULL) >= ts->renew_at ||
	    (renew && !strcmp(ts->header, buf)))
		rc = fetch(ts);
	if (!rc) {
		if (strlen(ts->header) >= n)
			rc = -ENOBUFS;
		else
			strcpy(buf, ts->header);
	}
	pthread_mutex_unlock(&ts->lock);
	return rc;
}
