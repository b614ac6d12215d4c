/*
 * page.h - reading one page of a Graph collection, as received: the body
 * must be a whole, valid JSON object with a "value" array, else it is not
 * used (a cut or garbled page is fetched again, never stored).
 *
 * Pages of messages are read straight into what the cache stores: each
 * message in the compact form (render.h) and the facts it is filed under.
 * A single pass over the bytes does it for the pages Graph sends; whatever
 * that pass is not sure to read exactly as json-c would (numbers beyond 18
 * digits, "-0", escaped NULs or lone surrogates, raw control characters,
 * duplicate member names, deep nesting, anything invalid) makes the page go
 * through json-c instead, which then decides whether it is valid.  Both ways
 * give the same bytes; the fuzz target tests/fuzz/fuzz_page.c checks it.
 */
#ifndef TEAMSFS_PAGE_H
#define TEAMSFS_PAGE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses the @len bytes at @body.  Returns the page (release with
 * json_object_put), or NULL if it is not a complete Graph page.
 */
struct json_object *page_parse(const char *body, size_t len);

/*
 * Returns the page's "@odata.nextLink" when it is a string, else NULL (the
 * member is absent or null on the last page).  Points into @page.
 */
const char *page_next_link(struct json_object *page);

/* One element of a page of messages.  Strings point into the page. */
struct page_msg {
	const char *json; /* compact form, NUL-terminated */
	size_t len;
	int is_object;	  /* else it is no message and is skipped */
	int may_attach;	  /* non-empty "attachments" or a hosted content URL;
			     otherwise attach_extract() finds nothing */
	const char *id;	  /* "id" if a string, else NULL */
	size_t id_len;	  /* (ids may hold NUL bytes) */
	const char *chat; /* "chatId" if a string, else NULL */
	size_t chat_len;
	const char *chan; /* "channelIdentity"."channelId", else NULL */
	size_t chan_len;
	int64_t mtime_ns; /* as render_message_facts() has it */
};

/* A page of messages read by page_read_messages(). */
struct page {
	struct page_msg *msgs;
	size_t n;
	const char *next; /* "@odata.nextLink" if a string, else NULL */
	int fast;	  /* read by the single pass, not by json-c */
	char *text;	  /* what the strings point into */
	size_t text_len, text_cap, cap;
};

/* How page_read_messages() may read a page. */
enum page_how {
	PAGE_ANY,	 /* the single pass, else json-c */
	PAGE_FAST_ONLY,	 /* the single pass or nothing (tests) */
	PAGE_JSONC_ONLY, /* json-c only (tests) */
};

/*
 * Reads the @len bytes at @body as a page of chatMessages.  Returns 0 and
 * sets *@out (free with page_free), -EINVAL if it is not a complete Graph
 * page (or, with PAGE_FAST_ONLY, if the single pass could not read it), or
 * -ENOMEM.
 */
int page_read_messages(const char *body, size_t len, enum page_how how,
		       struct page **out);

void page_free(struct page *pg);

#endif
