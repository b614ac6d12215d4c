/*
 * fuzz_page.c - a Graph page as it arrives, through everything the crawl
 * does with it before storing: parse, facts, rendering, names.  The single
 * pass of page_read_messages() must agree with json-c: it accepts nothing
 * json-c refuses, and gives the same compact bytes, facts and next link.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "names.h"
#include "page.h"
#include "render.h"

static void same_str(const char *a, size_t alen, const char *b, size_t blen)
{
	if (!a != !b || (a && (alen != blen || memcmp(a, b, alen))))
		abort();
}

/* Two readings of one page give the same messages. */
static void same_page(const struct page *a, const struct page *b)
{
	if (a->n != b->n || !a->next != !b->next ||
	    (a->next && strcmp(a->next, b->next)))
		abort();
	for (size_t i = 0; i < a->n; i++) {
		const struct page_msg *x = &a->msgs[i], *y = &b->msgs[i];

		same_str(x->json, x->len, y->json, y->len);
		same_str(x->id, x->id_len, y->id, y->id_len);
		same_str(x->chat, x->chat_len, y->chat, y->chat_len);
		same_str(x->chan, x->chan_len, y->chan, y->chan_len);
		if (x->is_object != y->is_object ||
		    x->may_attach != y->may_attach ||
		    x->mtime_ns != y->mtime_ns)
			abort();
	}
}

/* A message read from the page agrees with the json-c tree of it. */
static void check_msg(struct json_object *msg, const struct page_msg *pm)
{
	char name[NAME_MAX_BYTES + 1];
	struct message_facts f;
	size_t len, clen;
	char *bytes, *compact, *pretty;

	compact = render_compact(msg, &clen);
	if (!compact)
		return;
	same_str(compact, clen, pm->json, pm->len);
	free(compact);
	for (int k = 0; k < 2; k++) {
		if (render_message_facts(msg, k ? 't' : 'u', &f)) {
			if (pm->is_object)
				abort();
			break;
		}
		if (!pm->is_object || f.mtime_ns != pm->mtime_ns)
			abort();
		same_str(f.id, f.id_len, pm->id, pm->id_len);
		if (k)
			same_str(f.container, f.container_len, pm->chan,
				 pm->chan_len);
		else
			same_str(f.container, f.container_len, pm->chat,
				 pm->chat_len);
		if (f.id && name_from_id(f.id, f.id_len, ".json", name) >
				    NAME_MAX_BYTES)
			abort();
		if (f.container && name_from_id(f.container, f.container_len,
						"", name) > NAME_MAX_BYTES)
			abort();
	}
	{
		struct att *atts;
		size_t natts;

		if (!attach_extract(msg, &atts, &natts)) {
			if (natts && !pm->may_attach)
				abort();
			for (size_t k = 0; k < natts; k++)
				if (!atts[k].name[0] ||
				    strchr(atts[k].name, '/'))
					abort();
			attach_free(atts, natts);
		}
	}
	bytes = render_json(msg, &len);
	if (bytes && (len == 0 || bytes[len - 1] != '\n'))
		abort();
	/* The file bytes made from what the cache keeps are the same. */
	if (bytes && render_pretty_len(pm->json, pm->len) != len)
		abort();
	pretty = bytes ? malloc(len) : NULL;
	if (pretty) {
		render_pretty(pm->json, pm->len, pretty, len);
		if (memcmp(pretty, bytes, len))
			abort();
	}
	free(pretty);
	free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct json_object *page = page_parse(body, size), *value;
	struct page *fast = NULL, *slow = NULL, *any = NULL;
	int rf = page_read_messages(body, size, PAGE_FAST_ONLY, &fast);
	int rs = page_read_messages(body, size, PAGE_JSONC_ONLY, &slow);
	int ra = page_read_messages(body, size, PAGE_ANY, &any);

	/* json-c decides what a page is; the single pass never says more */
	if ((page != NULL) != (rs == 0) || (rs == 0) != (ra == 0) ||
	    (rf == 0 && !page))
		abort();
	if (!page)
		return 0;
	if (!rf)
		same_page(fast, slow);
	same_page(any, slow);
	if (any->fast != !rf)
		abort();
	same_str(page_next_link(page),
		 page_next_link(page) ? strlen(page_next_link(page)) : 0,
		 slow->next, slow->next ? strlen(slow->next) : 0);
	json_object_object_get_ex(page, "value", &value);
	if (json_object_array_length(value) != slow->n)
		abort();
	for (size_t i = 0; i < slow->n; i++)
		check_msg(json_object_array_get_idx(value, i), &slow->msgs[i]);
	page_free(fast);
	page_free(slow);
	page_free(any);
	json_object_put(page);
	return 0;
}
