/*
 * fuzz_render.c - any JSON value rendered to a message file must parse back
 * and render to the same bytes, and the compact form the cache keeps must
 * render to exactly those bytes; any string must be safe to give the date
 * parser and to the pretty printer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct json_tokener *tok = json_tokener_new();
	struct json_object *in, *back;
	int64_t ns;
	size_t len, len2, clen;
	char *out, *again, *compact;

	if (!text || !tok) {
		free(text);
		json_tokener_free(tok);
		return 0;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	render_parse_time(text, &ns);
	/* Any bytes: exactly render_pretty_len() of them written. */
	len = render_pretty_len(text, size);
	out = malloc(len + 1);
	if (out) {
		out[len] = 'X';
		render_pretty(text, size, out, len);
		if (out[len] != 'X' || out[len - 1] != '\n')
			abort();
		free(out);
	}
	/* What page_parse() accepts: strict JSON. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	in = json_tokener_parse_ex(tok, text, (int)size);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(in);
		in = NULL;
	}
	json_tokener_free(tok);
	free(text);
	if (!in)
		return 0;
	out = render_json(in, &len);
	if (!out || strlen(out) != len || out[len - 1] != '\n')
		abort();
	/* The compact form renders to the very same bytes. */
	compact = render_compact(in, &clen);
	if (!compact || render_pretty_len(compact, clen) != len)
		abort();
	again = malloc(len);
	if (!again)
		abort();
	render_pretty(compact, clen, again, len);
	if (memcmp(again, out, len))
		abort();
	free(again);
	free(compact);
	back = json_tokener_parse(out);
	if (!back)
		abort();
	/* Rendering is stable: the file parses back to what renders the same */
	again = render_json(back, &len2);
	if (!again || len2 != len || memcmp(out, again, len))
		abort();
	free(again);
	json_object_put(back);
	json_object_put(in);
	free(out);
	return 0;
}
