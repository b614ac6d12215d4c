/* test_present.c - one message as a person reads it: events, names, times */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "present.h"

static const char *names_of(void *ctx, const char *id)
{
	(void)ctx;
	return !strcmp(id, "u-known") ? "Known Person" : NULL;
}

static struct present chat = {'u', "../../../users/u/chats/c/", names_of, NULL};
static struct present channel = {'t', "../../../teams/t/channels/c/", names_of,
				 NULL};

/* The sentence event @json tells in @p. */
static void check_event(const struct present *p, const char *json,
			const char *want)
{
	struct json_object *d = json_tokener_parse(json);
	struct sbuf out = {0};

	CHECK(d != NULL);
	present_event(p, d, &out);
	sbuf_add(&out, "", 1);
	CHECK_STR(out.data, want);
	sbuf_free(&out);
	json_object_put(d);
}

#define EV(type) "{\"@odata.type\":\"#microsoft.graph." type "\","
#define BY(id, name)                                                           \
	"\"initiator\":{\"application\":null,\"user\":{\"id\":\"" id           \
	"\",\"displayName\":" name "}}"

static void test_events(void)
{
	check_event(
		&chat,
		EV("membersAddedEventMessageDetail")
			BY("a",
			   "\"Adele\"") ",\"members\":[{\"id\":\"b\","
					"\"displayName\":\"Alex\"},"
					"{\"id\":\"u-known\",\"displayName\":"
					"null},"
					"{\"id\":\"z\",\"displayName\":null}]}",
		"Adele added Alex, Known Person and user z to the chat.");
	check_event(&channel,
		    EV("membersAddedEventMessageDetail")
			    BY("a", "\"Adele\"") ",\"members\":[{\"id\":\"b\","
						 "\"displayName\":\"Alex\"}]}",
		    "Adele added Alex to the team.");
	check_event(&chat,
		    EV("membersLeftEventMessageDetail") BY(
			    "a", "null") ",\"members\":[{\"id\":\"g\","
					 "\"displayName\":\"Alex (Guest)\"}]}",
		    "Alex (Guest) left the chat.");
	check_event(&chat,
		    EV("chatRenamedEventMessageDetail") BY(
			    "u-known",
			    "null") ",\"chatDisplayName\":\"Graph Members\"}",
		    "Known Person renamed the chat to \"Graph Members\".");
	check_event(&chat,
		    EV("callEndedEventMessageDetail")
			    BY("a", "null") ",\"callDuration\":\"PT1H2M3.5S\"}",
		    "The call ended after 1 h 2 min 4 s.");
	check_event(&chat,
		    EV("callEndedEventMessageDetail")
			    BY("a", "null") ",\"callDuration\":\"PT59S\"}",
		    "The call ended after 59 s.");
	check_event(
		&channel,
		EV("conversationMemberRoleUpdatedEventMessageDetail") BY(
			"a",
			"\"Adele\"") ",\"conversationMemberRoles\":[\"Owner\"],"
				     "\"conversationMemberUser\":{\"id\":\"b\","
				     "\"displayName\":\"Alex\"}}",
		"Adele changed Alex's role to Owner.");
	check_event(
		&chat,
		EV("teamsAppInstalledEventMessageDetail") "\"teamsAppDisplayNam"
							  "e\":\"Flipgrid\"}",
		"Someone added the app \"Flipgrid\".");
	check_event(&chat,
		    EV("somethingNewEventMessageDetail")
			    BY("a", "\"Adele\"") "}",
		    "System event: somethingNew.");
	check_event(&chat, "{}", "System event: unknown.");
	check_event(&chat, "{\"members\":7,\"initiator\":[1]}",
		    "System event: unknown.");
}

static void test_times(void)
{
	char buf[40];

	present_time(0, buf, sizeof(buf));
	CHECK_STR(buf, "unknown time");
	present_time(1615963625LL * 1000000000 + 999999999, buf, sizeof(buf));
	CHECK_STR(buf, "2021-03-17 06:47:05 UTC");
	present_time(-1, buf, sizeof(buf));
	CHECK_STR(buf, "1969-12-31 23:59:59 UTC");
}

static void test_url_segment(void)
{
	struct sbuf out = {0};

	present_url_segment(&out, "19:a b@thread.v2/%2F\"<x>#?");
	sbuf_add(&out, "", 1);
	CHECK_STR(out.data, "19%3Aa%20b%40thread.v2%2F%252F%22%3Cx%3E%23%3F");
	sbuf_free(&out);
}

/* A message with a hostile body, a file and a reaction, in both forms. */
static void test_message(void)
{
	struct json_object *m = json_tokener_parse(
		"{\"id\":\"17\",\"messageType\":\"message\","
		"\"createdDateTime\":\"2024-05-01T10:20:30Z\","
		"\"lastEditedDateTime\":\"2024-05-01T10:22:00Z\","
		"\"from\":{\"user\":{\"id\":\"u-known\",\"displayName\":null}},"
		"\"body\":{\"contentType\":\"html\",\"content\":"
		"\"<p onclick=x>Hi <at id=\\\"0\\\">Bob</at></p>"
		"<script>alert(1)</script>\"},"
		"\"attachments\":[{\"id\":\"f\",\"contentType\":\"reference\","
		"\"contentUrl\":\"https://x.example/a b.pdf\","
		"\"name\":\"a b.pdf\"}],"
		"\"reactions\":[{\"reactionType\":\"like\",\"user\":{\"user\":"
		"{\"id\":\"v\",\"displayName\":\"Vi\"}}},"
		"{\"reactionType\":\"like\",\"user\":{\"user\":"
		"{\"id\":\"u-known\",\"displayName\":null}}}]}");
	struct sbuf h = {0}, t = {0};

	CHECK(m != NULL);
	present_html(&chat, m, "17.json", 1714558830LL * 1000000000, 0, &h);
	present_text(&chat, m, "17.json", 1714558830LL * 1000000000, 0, &t);
	sbuf_add(&h, "", 1);
	sbuf_add(&t, "", 1);
	CHECK(strstr(h.data, "<bdi class=\"from\">Known Person</bdi>"));
	CHECK(strstr(h.data, "edited 2024-05-01 10:22:00 UTC"));
	CHECK(strstr(h.data, "<span class=\"mention\">@Bob</span>"));
	CHECK(strstr(h.data, "href=\"../../../users/u/chats/c/"
			     "17.attachments/a%20b.pdf\">a b.pdf</a>"));
	CHECK(strstr(h.data, "Reactions: like: Vi, Known Person"));
	CHECK(!strstr(h.data, "script") && !strstr(h.data, "onclick"));
	CHECK_STR(t.data, "2024-05-01 10:20:30 UTC  Known Person\n"
			  "    (edited 2024-05-01 10:22:00 UTC)\n"
			  "    Hi @Bob\n"
			  "    Files: 17.attachments/a b.pdf\n"
			  "    Reactions: like: Vi, Known Person\n"
			  "\n");
	sbuf_free(&h);
	sbuf_free(&t);
	json_object_put(m);
}

int main(void)
{
	test_events();
	test_times();
	test_url_segment();
	test_message();
	return CHECK_DONE();
}
