/*
 * fuzz_html.c - whatever the body, html_sanitize() writes only allowed
 * tags, well nested, in a shape a browser keeps, with no attributes but
 * the mention class and relative image links (the image callback here
 * gives back the src it is given, so the sanitiser must refuse what is not
 * relative); html_to_text() and text_wrap() write valid UTF-8 lines, each
 * with its indent and line feed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/html_check.h"
#include "html.h"

static char *echo_image(void *ctx, const char *src)
{
	(void)ctx;
	return strdup(src);
}

static void fail(const char *what, const char *why, const struct sbuf *b)
{
	fprintf(stderr, "%s: %s\n%.*s\n", what, why, (int)b->len,
		b->data ? b->data : "");
	abort();
}

/* The most characters on one line of @s. */
static size_t widest_line(const char *s, size_t n)
{
	size_t most = 0, cols = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n') {
			most = cols > most ? cols : most;
			cols = 0;
		} else if (((unsigned char)s[i] & 0xc0) != 0x80) {
			cols++;
		}
	}
	return most;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *why;
	struct sbuf b = {0};

	html_sanitize(in, size, echo_image, NULL, &b);
	if (!b.oom && (why = check_sanitized(b.data ? b.data : "", b.len)))
		fail("html_sanitize", why, &b);
	sbuf_free(&b);

	html_sanitize(in, size, NULL, NULL, &b);
	if (!b.oom && (why = check_sanitized(b.data ? b.data : "", b.len)))
		fail("html_sanitize without images", why, &b);
	sbuf_free(&b);

	html_to_text(in, size, "  ", 40, &b);
	if (!b.oom && (why = check_text(b.data ? b.data : "", b.len, "  ")))
		fail("html_to_text", why, &b);
	sbuf_free(&b);

	html_to_text(in, size, "", 0, &b);
	if (!b.oom && (why = check_text(b.data ? b.data : "", b.len, "")))
		fail("html_to_text unwrapped", why, &b);
	sbuf_free(&b);

	text_wrap(in, size, "> ", 12, &b);
	if (!b.oom && (why = check_text(b.data ? b.data : "", b.len, "> ")))
		fail("text_wrap", why, &b);
	if (!b.oom && widest_line(b.data, b.len) > 12)
		fail("text_wrap", "line wider than 12", &b);
	sbuf_free(&b);

	sbuf_add_escaped(&b, in, size);
	if (b.data && (!hc_utf8_ok(b.data, b.len, 1) ||
		       strpbrk(b.data, "<>\"'") || memchr(b.data, 0, b.len)))
		fail("sbuf_add_escaped", "unsafe", &b);
	sbuf_free(&b);
	return 0;
}
