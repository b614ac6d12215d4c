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
 * Renders @obj as the bytes of its file: pretty-printed JSON, UTF-8, every
 * member kept, ending in a newline.  Returns a malloc'd buffer whose length
 * is stored in @len, or NULL when out of memory.
 */
char *render_json(struct json_object *obj, size_t *len);

#endif
