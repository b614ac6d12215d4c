/*
 * fuzz_present.c - any JSON value shown as a transcript message, in a chat
 * and in a channel, as HTML and as text: no crash, text output valid
 * UTF-8 ending in a newline, and the same bytes twice (transcript sizes
 * must not depend on anything but the message).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "present.h"

static const char *no_name(void *ctx, const char *id)
{
	(void)ctx;
	return strlen(id) % 2 ? "Odd Name" : NULL;
}

/* Nonzero if @s (@n bytes) is well-formed UTF-8. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80		   ? 1
			   : c >= 0xc2 && c < 0xe0 ? 2
			   : c >= 0xe0 && c < 0xf0 ? 3
			   : c >= 0xf0 && c < 0xf5 ? 4
						   : 0;

		if (!k || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

static void show(const struct present *p, struct json_object *m, int reply)
{
	struct sbuf h1 = {0}, h2 = {0}, t1 = {0}, t2 = {0};

	present_html(p, m, "1.json", 1, reply, &h1);
	present_html(p, m, "1.json", 1, reply, &h2);
	present_text(p, m, "1.json", 1, reply, &t1);
	present_text(p, m, "1.json", 1, reply, &t2);
	if (h1.len != h2.len || memcmp(h1.data, h2.data, h1.len))
		abort();
	if (t1.len != t2.len || memcmp(t1.data, t2.data, t1.len))
		abort();
	if (!t1.oom && (!t1.len || t1.data[t1.len - 1] != '\n' ||
			!utf8_ok((const unsigned char *)t1.data, t1.len)))
		abort();
	sbuf_free(&h1);
	sbuf_free(&h2);
	sbuf_free(&t1);
	sbuf_free(&t2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct present chat = {'u', "../../../users/u/chats/c/", no_name, NULL};
	struct present channel = {'t', "../../../teams/t/channels/c/", NULL,
				  NULL};
	char *text = malloc(size + 1);
	struct json_object *m;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	m = json_tokener_parse(text);
	free(text);
	if (!m)
		return 0;
	show(&chat, m, 0);
	show(&channel, m, 1);
	if (json_object_is_type(m, json_type_object)) {
		struct json_object *d;

		if (json_object_object_get_ex(m, "eventDetail", &d)) {
			struct sbuf s = {0};

			present_event(&channel, d, &s);
			sbuf_free(&s);
		}
	}
	json_object_put(m);
	return 0;
}
