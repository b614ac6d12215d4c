/*
 * token.h - the app's access token from the OAuth2 client-credentials flow.
 *
 * There is no refresh token: a new one is asked for before the current one
 * expires, and again when Graph refuses one.  The secret and the token live
 * only in memory and are never logged.
 */
#ifndef TEAMSFS_TOKEN_H
#define TEAMSFS_TOKEN_H

#include <stddef.h>

struct token_source;

/*
 * Prepares a source that asks @token_url for a token for @client_id with
 * @secret and scope @scope.  Copies all strings.  Returns 0 or -ENOMEM.
 */
int token_source_new(const char *token_url, const char *client_id,
		     const char *secret, const char *scope,
		     struct token_source **out);

/* Forgets the token and wipes the secret from memory. */
void token_source_free(struct token_source *ts);

/*
 * Copies a valid "Bearer ..." header value into @buf of @n bytes, asking
 * for a new token first when there is none, when it expires within a few
 * minutes, or when @renew is set and the token is still the one in @buf.
 * Returns 0, -EACCES when the identity platform refused the credentials
 * (logged), -EHOSTUNREACH when it could not be reached, or -EIO.
 */
int token_get(struct token_source *ts, int renew, char *buf, size_t n);

#endif
