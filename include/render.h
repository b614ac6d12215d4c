/*
 * render.h - what a chatMessage becomes on disk: its timestamps read
 * leniently, the facts teamsfs files it under, and its bytes as served.
 */
#ifndef TEAMSFS_RENDER_H
#define TEAMSFS_RENDER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses an ISO-8601 UTC timestamp such as "2024-05-01T10:20:30.1234567Z"
 * into nanoseconds since the epoch.  Accepts 0 to 9 fractional digits, a
 * 'T', 't', ' ' or nothing between date and time (Graph's documentation has
 * "2021-03-1706:47:05.123Z"), and a 'Z' or numeric offset.  Returns 0 on
 * success, -1 if @s is not a timestamp or lies outside the years 1678 to
 * 2261 that 64-bit nanoseconds can hold.
 */
int render_parse_time(const char *s, int64_t *ns);

/* What the crawl needs to know of one chatMessage. */
struct message_facts {
	const char *id; /* NULL when the message has no string id */
	size_t id_len;
	const char *container; /* chatId or channelIdentity.channelId; NULL if
				  absent */
	size_t container_len;
	int64_t mtime_ns; /* lastModifiedDateTime, else createdDateTime, else 0
			   */
};

/*
 * Fills @f from @msg, for a chats scope (@kind 'u') or a channels scope
 * (@kind 't').  The pointers point into @msg.  Returns 0, or -1 if @msg is
 * not a JSON object.
 */
int render_message_facts(struct json_object *msg, char kind,
			 struct message_facts *f);

/*
 * Renders @obj in the compact form the cache keeps: json-c's plain output
 * (no whitespace outside strings, '/' not escaped).  Returns a malloc'd,
 * NUL-terminated buffer whose length is stored in @len, or NULL when out of
 * memory.
 */
char *render_compact(struct json_object *obj, size_t *len);

/*
 * Returns the end (past the closing quote) of the JSON string whose opening
 * quote is at @p, or @end if it is not closed before @end.
 */
const char *render_string_end(const char *p, const char *end);

/*
 * Returns the length of the file bytes render_pretty() makes of the compact
 * text at @json (@len bytes, as render_compact() or page_read() give it),
 * without writing them: st_size without rendering.
 */
size_t render_pretty_len(const char *json, size_t len);

/*
 * Writes the file bytes of compact text @json into @out, at most @cap of
 * them, and returns how many there are (more than @cap: cut short): for
 * any JSON value v, render_pretty(render_compact(v)) is byte for byte
 * render_json(v).  Text that is not compact JSON still gives exactly
 * render_pretty_len() bytes.
 */
size_t render_pretty(const char *json, size_t len, char *out, size_t cap);

/*
 * Renders @obj as the bytes of its file: pretty-printed JSON, UTF-8, every
 * member kept, ending in a newline.  Returns a malloc'd buffer whose length
 * is stored in @len, or NULL when out of memory.
 */
char *render_json(struct json_object *obj, size_t *len);

#endif
