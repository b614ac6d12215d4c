/* test_attach.c - finding a message's attachments and naming their files. */
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "check.h"

static struct att *extract(const char *json, size_t *n)
{
	struct json_object *m = json_tokener_parse(json);
	struct att *a = NULL;

	CHECK(m != NULL);
	CHECK(attach_extract(m, &a, n) == 0);
	json_object_put(m);
	return a;
}

static void test_kinds(void)
{
	size_t n;
	struct att *a = extract(
		"{\"attachments\":["
		"{\"id\":\"r1\",\"contentType\":\"reference\",\"contentUrl\":"
		"\"https://x.sharepoint.com/a/Q3%20plan.docx\",\"name\":\"Q3 "
		"plan.docx\"},"
		"{\"id\":\"r2\",\"contentType\":\"reference\",\"contentUrl\":"
		"\"https://x.sharepoint.com/b/Q3%20plan.docx\",\"name\":\"Q3 "
		"plan.docx\"},"
		"{\"id\":\"c1\",\"contentType\":"
		"\"application/vnd.microsoft.card.adaptive\",\"content\":"
		"\"{\\\"type\\\":\\\"AdaptiveCard\\\"}\"},"
		"{\"id\":\"q1\",\"contentType\":\"messageReference\","
		"\"content\":\"not json\"},"
		"{\"id\":\"x/y\",\"contentType\":\"reference\",\"name\":"
		"\"100%/sure.txt\",\"contentUrl\":\"https://x/s\"}],"
		"\"body\":{\"content\":\"<p><img src=\\\"https://graph."
		"microsoft.com/v1.0/chats/19:a@thread.v2/messages/1/"
		"hostedContents/aWQ9/$value\\\"> and again <img src=\\\"https:"
		"//graph.microsoft.com/v1.0/chats/19:a@thread.v2/messages/1/"
		"hostedContents/aWQ9/$value\\\"></p>\"}}",
		&n);

	CHECK(n == 6);
	if (n != 6)
		return;
	CHECK(a[0].kind == ATT_REFERENCE);
	CHECK_STR(a[0].name, "Q3 plan.docx");
	CHECK_STR(a[0].source, "https://x.sharepoint.com/a/Q3%20plan.docx");
	CHECK_STR(a[1].name, "Q3 plan~2.docx"); /* same name, stable suffix */
	CHECK(a[2].kind == ATT_INLINE);
	CHECK_STR(a[2].name, "c1.json");
	CHECK(a[2].data && strstr(a[2].data, "\"type\": \"AdaptiveCard\""));
	CHECK(a[2].data[a[2].len - 1] == '\n');
	CHECK_STR(a[3].name, "q1.json");
	CHECK(a[3].len == 9 && !memcmp(a[3].data, "not json\n", 9));
	CHECK_STR(a[4].name, "100%25%2Fsure.txt"); /* escaped like ids */
	CHECK(a[5].kind == ATT_HOSTED); /* once, though linked twice */
	CHECK_STR(a[5].source,
		  "chats/19:a@thread.v2/messages/1/hostedContents/aWQ9/$value");
	CHECK_STR(a[5].name, "aWQ9.png");
	attach_free(a, n);
}

static void test_none(void)
{
	size_t n = 9;
	struct att *a = extract("{\"attachments\":[],\"body\":{\"content\":"
				"\"<p>hostedContents/ but no URL</p>\"}}",
				&n);

	CHECK(n == 0 && a == NULL);
	a = extract("{\"attachments\":null}", &n);
	CHECK(n == 0);
}

static void test_shares_path(void)
{
	char *p = attach_shares_path(
		"https://onedrive.live.com/redir?resid=1231244193912!12&"
		"authKey=1201919!12921!1",
		0);

	/* base64url without padding, as Python's urlsafe_b64encode gives */
	CHECK_STR(p, "shares/u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZX"
		     "NpZD0xMjMxMjQ0MTkzOTEyITEyJmF1dGhLZXk9MTIwMTkxOSExMjkyMS"
		     "Ex/driveItem");
	free(p);
	p = attach_shares_path("ab", 1);
	CHECK_STR(p, "shares/u!YWI/driveItem/content");
	free(p);
}

int main(void)
{
	test_kinds();
	test_none();
	test_shares_path();
	return CHECK_DONE();
}
