/*
 * present.h - how one message reads to a person, for the transcripts
 * (transcript.h): who wrote it and when, edited and deleted markers, its
 * subject and body (made safe by html.h), its files as links into the
 * mount, its reactions, and system events told in plain words ("Adele
 * Vance added Alex Wilber to the chat.").
 *
 * Everything written depends only on the message and on the names given by
 * @name_of, so a transcript's bytes change only when its messages do.
 */
#ifndef TEAMSFS_PRESENT_H
#define TEAMSFS_PRESENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "html.h"

/* Width text transcripts are wrapped at, in code points. */
#define PRESENT_TEXT_WIDTH 78

/* What every message of one transcript shares. */
struct present {
	char kind; /* 'u': a chat, 't': a channel */
	/*
	 * Relative URL of the container's directory in the mount, seen from
	 * the transcript file, percent-encoded and ending in '/'.
	 */
	const char *files_url;
	/* Display name known for user @id (from other messages), or NULL */
	const char *(*name_of)(void *ctx, const char *id);
	void *ctx;
};

/*
 * Writes time @ns as "2024-05-01 10:20:30 UTC" into @buf of @size bytes
 * (at least 32), or "unknown time" when @ns is 0.
 */
void present_time(int64_t ns, char *buf, size_t size);

/*
 * Appends to @out the percent-encoded form of path segment @s: everything
 * but letters, digits and "-._~" is encoded, so the result is safe in an
 * attribute and never read as a scheme or a query.
 */
void present_url_segment(struct sbuf *out, const char *s);

/*
 * Appends message @m, stored as file @name in the container, as one HTML
 * <article>; @reply marks an answer in a channel thread, shown indented
 * under its root.  @created_ns is the time the message is filed under.
 */
void present_html(const struct present *p, struct json_object *m,
		  const char *name, int64_t created_ns, int reply,
		  struct sbuf *out);

/* Appends the same as plain text, wrapped at PRESENT_TEXT_WIDTH. */
void present_text(const struct present *p, struct json_object *m,
		  const char *name, int64_t created_ns, int reply,
		  struct sbuf *out);

/*
 * Appends the plain-text sentence that tells system event @detail (a
 * message's eventDetail), such as "Adele Vance renamed the chat to
 * "Graph Members"." or, for an event type teamsfs does not know, "System
 * event: <type>.".
 */
void present_event(const struct present *p, struct json_object *detail,
		   struct sbuf *out);

/*
 * Returns the name to show for identity set @who (a message's "from", an
 * event's "initiator" or a reaction's "user"): its user, application or
 * device display name, a name @p knows for its id, or "user <id>"; NULL
 * when @who names nobody.  The result points into @who or @p, or is
 * @buf (of @size bytes).
 */
const char *present_who(const struct present *p, struct json_object *who,
			char *buf, size_t size);

#endif
