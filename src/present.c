/* present.c - one message as a person reads it, in HTML and in text. */
#include "present.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attach.h"
#include "names.h"
#include "render.h"

void present_time(int64_t ns, char *buf, size_t size)
{
	time_t secs = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns % 1000000000 < 0)
		secs--;
	if (!ns || !gmtime_r(&secs, &tm) ||
	    !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, size, "unknown time");
}

void present_url_segment(struct sbuf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			sbuf_add(out, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};

			sbuf_add(out, e, 3);
		}
	}
}

/* Member @key of @o if it is of @type, else NULL. */
static struct json_object *member(struct json_object *o, const char *key,
				  enum json_type type)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

static struct json_object *obj(struct json_object *o, const char *key)
{
	return member(o, key, json_type_object);
}

static struct json_object *arr(struct json_object *o, const char *key)
{
	return member(o, key, json_type_array);
}

/* Member @key of @o if it is a non-empty string, else NULL. */
static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_string);
	const char *s = v ? json_object_get_string(v) : NULL;

	return s && *s ? s : NULL;
}

/* The time of timestamp member @key of @o, or 0. */
static int64_t time_of(struct json_object *o, const char *key)
{
	const char *s = str(o, key);
	int64_t ns;

	return s && !render_parse_time(s, &ns) ? ns : 0;
}

/* The name of one identity ({"id", "displayName"}), or NULL. */
static const char *identity_name(const struct present *p,
				 struct json_object *id, char *buf, size_t size)
{
	const char *name = str(id, "displayName"), *uid = str(id, "id");

	if (name)
		return name;
	if (uid && p->name_of && (name = p->name_of(p->ctx, uid)))
		return name;
	if (!uid)
		return NULL;
	snprintf(buf, size, "user %s", uid);
	return buf;
}

const char *present_who(const struct present *p, struct json_object *who,
			char *buf, size_t size)
{
	static const char *const parts[] = {"user", "application", "device"};
	const char *name;

	if (!who)
		return NULL;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		name = identity_name(p, obj(who, parts[i]), buf, size);
		if (name)
			return name;
	}
	/* A reaction's "user" may itself be an identity. */
	return identity_name(p, who, buf, size);
}

/* Appends the names of the identities in array @list: "A, B and C". */
static void add_names(const struct present *p, struct json_object *list,
		      struct sbuf *out)
{
	size_t n = list ? json_object_array_length(list) : 0;
	char buf[300];

	if (!n) {
		sbuf_adds(out, "someone");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(list, i);
		const char *name = identity_name(p, m, buf, sizeof(buf));

		if (!name)
			name = present_who(p, m, buf, sizeof(buf));
		if (i)
			sbuf_adds(out, i + 1 == n ? " and " : ", ");
		sbuf_adds(out, name ? name : "someone");
	}
}

/* Appends an ISO 8601 duration ("PT1H2M3.5S") as "1 h 2 min 3 s". */
static void add_duration(struct sbuf *out, const char *iso)
{
	double h = 0, m = 0, s = 0;
	const char *t = iso ? strchr(iso, 'T') : NULL;
	char unit;
	double v;
	int used;

	if (!t) {
		sbuf_adds(out, iso ? iso : "unknown");
		return;
	}
	for (t++; sscanf(t, "%lf%c%n", &v, &unit, &used) == 2; t += used) {
		if (unit == 'H')
			h = v;
		else if (unit == 'M')
			m = v;
		else if (unit == 'S')
			s = v;
	}
	if (h)
		sbuf_addf(out, "%.0f h ", h);
	if (h || m)
		sbuf_addf(out, "%.0f min ", m);
	sbuf_addf(out, "%.0f s", s);
}

/* One sentence per event type; %I is the initiator, %M the members. */
struct event_words {
	const char *type;
	const char *chat, *team; /* in a chat, in a channel */
	const char *field;	 /* a string member shown for %F */
};

static const struct event_words events[] = {
	{"membersAdded", "%I added %M to the chat.", "%I added %M to the team.",
	 NULL},
	{"membersDeleted", "%I removed %M from the chat.",
	 "%I removed %M from the team.", NULL},
	{"membersJoined", "%M joined the chat.", "%M joined the team.", NULL},
	{"membersLeft", "%M left the chat.", "%M left the team.", NULL},
	{"callStarted", "%I started a call.", NULL, NULL},
	{"callEnded", "The call ended after %D.", NULL, NULL},
	{"callRecording", "The call was recorded: \"%F\".", NULL,
	 "callRecordingDisplayName"},
	{"callTranscript", "A transcript of the call is available.", NULL,
	 NULL},
	{"chatRenamed", "%I renamed the chat to \"%F\".", NULL,
	 "chatDisplayName"},
	{"channelAdded", "%I added the channel \"%F\".", NULL,
	 "channelDisplayName"},
	{"channelDeleted", "%I deleted the channel \"%F\".", NULL,
	 "channelDisplayName"},
	{"channelDescriptionUpdated",
	 "%I changed the channel's description to \"%F\".", NULL,
	 "channelDescription"},
	{"channelRenamed", "%I renamed the channel to \"%F\".", NULL,
	 "channelDisplayName"},
	{"channelSetAsFavoriteByDefault",
	 "%I made the channel shown to everyone by default.", NULL, NULL},
	{"channelUnsetAsFavoriteByDefault",
	 "%I stopped showing the channel to everyone by default.", NULL, NULL},
	{"channelSharingUpdated", "%I changed who the channel is shared with.",
	 NULL, NULL},
	{"conversationMemberRoleUpdated", "%I changed %U's role to %R.", NULL,
	 NULL},
	{"meetingPolicyUpdated", "%I changed the meeting's chat settings.",
	 NULL, NULL},
	{"messagePinned", "%I pinned a message.", NULL, NULL},
	{"messageUnpinned", "%I unpinned a message.", NULL, NULL},
	{"tabUpdated", "%I updated a tab.", NULL, NULL},
	{"teamArchived", "%I archived the team.", NULL, NULL},
	{"teamUnarchived", "%I restored the team from the archive.", NULL,
	 NULL},
	{"teamCreated", "%I created the team \"%F\".", NULL, "teamDisplayName"},
	{"teamDescriptionUpdated",
	 "%I changed the team's description to \"%F\".", NULL,
	 "teamDescription"},
	{"teamJoiningDisabled", "%I turned off joining the team with a code.",
	 NULL, NULL},
	{"teamJoiningEnabled", "%I turned on joining the team with a code.",
	 NULL, NULL},
	{"teamRenamed", "%I renamed the team to \"%F\".", NULL,
	 "teamDisplayName"},
	{"teamsAppInstalled", "%I added the app \"%F\".", NULL,
	 "teamsAppDisplayName"},
	{"teamsAppRemoved", "%I removed the app \"%F\".", NULL,
	 "teamsAppDisplayName"},
	{"teamsAppUpgraded", "%I updated the app \"%F\".", NULL,
	 "teamsAppDisplayName"},
};

/* The event type without "#microsoft.graph." and "EventMessageDetail". */
static size_t event_type(struct json_object *detail, const char **type)
{
	static const char head[] = "#microsoft.graph.";
	static const char tail[] = "EventMessageDetail";
	const char *t = str(detail, "@odata.type");
	size_t n;

	if (!t)
		t = "unknown";
	if (!strncmp(t, head, sizeof(head) - 1))
		t += sizeof(head) - 1;
	n = strlen(t);
	if (n > sizeof(tail) - 1 && !strcmp(t + n - (sizeof(tail) - 1), tail))
		n -= sizeof(tail) - 1;
	*type = t;
	return n;
}

void present_event(const struct present *p, struct json_object *detail,
		   struct sbuf *out)
{
	const struct event_words *w = NULL;
	const char *type, *fmt, *name;
	size_t n = event_type(detail, &type);
	char buf[300];

	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (strlen(events[i].type) == n &&
		    !strncmp(events[i].type, type, n))
			w = &events[i];
	if (!w) {
		sbuf_addf(out, "System event: %.*s.", (int)n, type);
		return;
	}
	fmt = p->kind == 't' && w->team ? w->team : w->chat;
	for (; *fmt; fmt++) {
		if (*fmt != '%' || !fmt[1]) {
			sbuf_add(out, fmt, 1);
			continue;
		}
		switch (*++fmt) {
		case 'I':
			name = present_who(p, obj(detail, "initiator"), buf,
					   sizeof(buf));
			sbuf_adds(out, name ? name : "Someone");
			break;
		case 'M':
			add_names(p, arr(detail, "members"), out);
			break;
		case 'U':
			name = identity_name(
				p, obj(detail, "conversationMemberUser"), buf,
				sizeof(buf));
			sbuf_adds(out, name ? name : "someone");
			break;
		case 'R': {
			struct json_object *roles =
				arr(detail, "conversationMemberRoles");
			size_t k = roles ? json_object_array_length(roles) : 0;

			for (size_t i = 0; i < k; i++)
				sbuf_addf(out, "%s%s", i ? ", " : "",
					  json_object_get_string(
						  json_object_array_get_idx(
							  roles, i)));
			if (!k)
				sbuf_adds(out, "member");
			break;
		}
		case 'D':
			add_duration(out, str(detail, "callDuration"));
			break;
		case 'F':
			name = str(detail, w->field);
			sbuf_adds(out, name ? name : "");
			break;
		default:
			sbuf_add(out, fmt, 1);
		}
	}
}

/* Reactions grouped by type, in order of first use: "like: A, B; ..." */
static void add_reactions(const struct present *p, struct json_object *list,
			  struct sbuf *out)
{
	size_t n = json_object_array_length(list);
	char buf[300];

	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(list, i);
		const char *type = str(r, "reactionType");
		int seen = 0, first = 1;

		if (!type)
			type = "reaction";
		for (size_t j = 0; j < i && !seen; j++) {
			const char *t = str(json_object_array_get_idx(list, j),
					    "reactionType");

			seen = !strcmp(t ? t : "reaction", type);
		}
		if (seen)
			continue;
		sbuf_addf(out, "%s%s: ", i ? "; " : "", type);
		for (size_t j = i; j < n; j++) {
			struct json_object *o =
				json_object_array_get_idx(list, j);
			const char *t = str(o, "reactionType"), *who;

			if (strcmp(t ? t : "reaction", type))
				continue;
			who = present_who(p, obj(o, "user"), buf, sizeof(buf));
			sbuf_addf(out, "%s%s", first ? "" : ", ",
				  who ? who : "someone");
			first = 0;
		}
	}
}

/* What both renderings need to know of a message. */
struct shown {
	const char *who, *subject, *body, *body_type;
	int64_t created_ns, edited_ns, deleted_ns;
	struct json_object *detail, *reactions;
	int event;
	char who_buf[300];
	char attdir[NAME_MAX_BYTES + 1];
	struct att *atts;
	size_t natts;
};

static void shown_get(const struct present *p, struct json_object *m,
		      const char *name, int64_t created_ns, struct shown *s)
{
	struct json_object *body = obj(m, "body");
	const char *id = str(m, "id"), *type = str(m, "messageType");
	size_t n = strlen(name);

	memset(s, 0, sizeof(*s));
	s->created_ns = created_ns;
	s->edited_ns = time_of(m, "lastEditedDateTime");
	s->deleted_ns = time_of(m, "deletedDateTime");
	s->subject = str(m, "subject");
	s->body = str(body, "content");
	s->body_type = str(body, "contentType");
	s->detail = obj(m, "eventDetail");
	s->reactions = arr(m, "reactions");
	if (s->reactions && !json_object_array_length(s->reactions))
		s->reactions = NULL;
	s->event = s->detail || (type && !strcmp(type, "systemEventMessage"));
	s->who = present_who(p, obj(m, "from"), s->who_buf, sizeof(s->who_buf));
	if (!s->who)
		s->who = s->event ? "System" : "Unknown sender";
	/* The attachments directory, named as the crawl named it. */
	if (id)
		name_from_id(id, strlen(id), ".attachments", s->attdir);
	else if (n > 5 && !strcmp(name + n - 5, ".json"))
		snprintf(s->attdir, sizeof(s->attdir), "%.*s.attachments",
			 (int)(n - 5), name);
	if (attach_extract(m, &s->atts, &s->natts))
		s->natts = 0;
}

static void shown_free(struct shown *s)
{
	attach_free(s->atts, s->natts);
}

/* Appends the relative URL of attachment file @file. */
static void add_file_url(const struct present *p, const struct shown *s,
			 const char *file, struct sbuf *out)
{
	sbuf_adds(out, p->files_url);
	present_url_segment(out, s->attdir);
	sbuf_adds(out, "/");
	present_url_segment(out, file);
}

/* Carries a message to the image callback of html_sanitize(). */
struct image_ctx {
	const struct present *p;
	const struct shown *s;
};

static char *image_url(void *ctx, const char *src)
{
	struct image_ctx *ic = ctx;
	size_t n = strlen(src);
	struct sbuf url = {0};

	for (size_t i = 0; i < ic->s->natts; i++) {
		const struct att *a = &ic->s->atts[i];
		size_t k = a->source ? strlen(a->source) : 0;

		if (a->kind != ATT_HOSTED || !k || k > n ||
		    strcmp(src + n - k, a->source))
			continue;
		add_file_url(ic->p, ic->s, a->name, &url);
		if (url.oom) {
			sbuf_free(&url);
			return NULL;
		}
		return url.data;
	}
	return NULL;
}

/*
 * Files shown under a message: references and cards, and in the text (which
 * has no links in its body) inline images and snippets too.
 */
static int listed(const struct att *a, int text)
{
	return text || a->kind != ATT_HOSTED;
}

/* Appends @len bytes of text at @text, escaped, between @open and @close */
static void add_element(struct sbuf *out, const char *open, const char *text,
			size_t len, const char *close)
{
	sbuf_adds(out, open);
	sbuf_add_escaped(out, text ? text : "", text ? len : 0);
	sbuf_adds(out, close);
}

static void html_meta(const struct shown *s, struct sbuf *out)
{
	char when[40];

	/* <bdi>: a right-to-left name does not reorder the line */
	sbuf_adds(out, "<p class=\"meta\"><bdi class=\"from\">");
	sbuf_add_escaped(out, s->who, strlen(s->who));
	present_time(s->created_ns, when, sizeof(when));
	sbuf_addf(out, "</bdi> <span class=\"time\">%s</span>", when);
	if (s->edited_ns) {
		present_time(s->edited_ns, when, sizeof(when));
		sbuf_addf(out, " <span class=\"edited\">edited %s</span>",
			  when);
	}
	if (s->deleted_ns) {
		present_time(s->deleted_ns, when, sizeof(when));
		sbuf_addf(out, " <span class=\"deleted\">deleted %s</span>",
			  when);
	}
	sbuf_adds(out, "</p>\n");
}

void present_html(const struct present *p, struct json_object *m,
		  const char *name, int64_t created_ns, int reply,
		  struct sbuf *out)
{
	struct shown s;
	struct image_ctx ic = {p, &s};
	int files = 0;

	shown_get(p, m, name, created_ns, &s);
	sbuf_addf(out, "<article class=\"msg%s%s%s\">\n", reply ? " reply" : "",
		  s.event ? " event" : "", s.deleted_ns ? " gone" : "");
	html_meta(&s, out);
	if (s.subject)
		add_element(out, "<h2 dir=\"auto\">", s.subject,
			    strlen(s.subject), "</h2>\n");
	if (s.event) {
		struct sbuf words = {0};

		present_event(p, s.detail, &words);
		add_element(out, "<p class=\"event\" dir=\"auto\">", words.data,
			    words.len, "</p>\n");
		sbuf_free(&words);
	} else if (!s.body && s.deleted_ns) {
		sbuf_adds(out,
			  "<p class=\"note\">This message was deleted.</p>\n");
	} else if (s.body && s.body_type && !strcmp(s.body_type, "text")) {
		add_element(out, "<div class=\"body plain\" dir=\"auto\">",
			    s.body, strlen(s.body), "</div>\n");
	} else if (s.body) {
		sbuf_adds(out, "<div class=\"body\" dir=\"auto\">");
		html_sanitize(s.body, strlen(s.body), image_url, &ic, out);
		sbuf_adds(out, "</div>\n");
	}
	for (size_t i = 0; i < s.natts; i++) {
		if (!listed(&s.atts[i], 0))
			continue;
		sbuf_adds(out, files++ ? "<li>" : "<ul class=\"files\"><li>");
		sbuf_adds(out, "<a href=\"");
		add_file_url(p, &s, s.atts[i].name, out);
		sbuf_adds(out, "\">");
		sbuf_add_escaped(out, s.atts[i].name, strlen(s.atts[i].name));
		sbuf_adds(out, "</a></li>");
	}
	if (files)
		sbuf_adds(out, "</ul>\n");
	if (s.reactions) {
		struct sbuf r = {0};

		add_reactions(p, s.reactions, &r);
		add_element(out, "<p class=\"reactions\">Reactions: ", r.data,
			    r.len, "</p>\n");
		sbuf_free(&r);
	}
	sbuf_adds(out, "</article>\n");
	shown_free(&s);
}

void present_text(const struct present *p, struct json_object *m,
		  const char *name, int64_t created_ns, int reply,
		  struct sbuf *out)
{
	const char *lead = reply ? "    " : "";
	const char *indent = reply ? "        " : "    ";
	unsigned width = PRESENT_TEXT_WIDTH;
	struct sbuf line = {0};
	struct shown s;
	char when[40];
	int files = 0;

	shown_get(p, m, name, created_ns, &s);
	present_time(s.created_ns, when, sizeof(when));
	sbuf_addf(&line, "%s%s  %s", reply ? "Reply: " : "", when, s.who);
	text_wrap(line.data, line.len, lead, width, out);
	line.len = 0;
	/* Markers on lines of their own: a wrapped head reads like a new one */
	if (s.edited_ns) {
		present_time(s.edited_ns, when, sizeof(when));
		sbuf_addf(&line, "(edited %s)", when);
		text_wrap(line.data, line.len, indent, width, out);
		line.len = 0;
	}
	if (s.deleted_ns) {
		present_time(s.deleted_ns, when, sizeof(when));
		sbuf_addf(&line, "(deleted %s)", when);
		text_wrap(line.data, line.len, indent, width, out);
		line.len = 0;
	}
	if (s.subject) {
		sbuf_addf(&line, "Subject: %s", s.subject);
		text_wrap(line.data, line.len, indent, width, out);
		line.len = 0;
	}
	if (s.event) {
		present_event(p, s.detail, &line);
		text_wrap(line.data, line.len, indent, width, out);
		line.len = 0;
	} else if (!s.body && s.deleted_ns) {
		text_wrap("This message was deleted.", 25, indent, width, out);
	} else if (s.body && s.body_type && !strcmp(s.body_type, "text")) {
		text_wrap(s.body, strlen(s.body), indent, width, out);
	} else if (s.body) {
		html_to_text(s.body, strlen(s.body), indent, width, out);
	}
	for (size_t i = 0; i < s.natts; i++) {
		if (!listed(&s.atts[i], 1))
			continue;
		/* In the directory the head of the transcript names. */
		sbuf_addf(&line, "%s%s/%s",
			  files++ ? "; " : "Files: ", s.attdir, s.atts[i].name);
	}
	if (files) {
		text_wrap(line.data, line.len, indent, width, out);
		line.len = 0;
	}
	if (s.reactions) {
		sbuf_adds(&line, "Reactions: ");
		add_reactions(p, s.reactions, &line);
		text_wrap(line.data, line.len, indent, width, out);
	}
	sbuf_adds(out, "\n");
	sbuf_free(&line);
	shown_free(&s);
}
