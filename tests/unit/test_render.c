/* test_render.c - timestamps, message facts and rendered bytes. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "render.h"

static int64_t t(const char *s)
{
	int64_t ns = -1;

	CHECK(render_parse_time(s, &ns) == 0);
	return ns;
}

static void test_times(void)
{
	int64_t ns;

	CHECK(t("1970-01-01T00:00:00Z") == 0);
	CHECK(t("2021-03-17T06:47:05Z") == 1615963625LL * 1000000000);
	CHECK(t("2021-03-17T06:47:05.123Z") ==
	      1615963625LL * 1000000000 + 123000000);
	CHECK(t("2021-03-17T06:47:05.1234567Z") ==
	      1615963625LL * 1000000000 + 123456700);
	/* The documentation's date without a 'T'. */
	CHECK(t("2021-03-1706:47:05.123Z") ==
	      1615963625LL * 1000000000 + 123000000);
	CHECK(t("2021-03-17T08:47:05+02:00") == 1615963625LL * 1000000000);
	CHECK(t("2024-02-29T23:59:59Z") == 1709251199LL * 1000000000);
	/* Beyond what 64-bit nanoseconds hold: not a usable mtime. */
	CHECK(render_parse_time("0001-01-01T00:00:00Z", &ns) == -1);
	CHECK(render_parse_time("yesterday", &ns) == -1);
	CHECK(render_parse_time("2021-13-01T00:00:00Z", &ns) == -1);
	CHECK(render_parse_time("2021-03-17T06:47:05Zjunk", &ns) == -1);
	CHECK(render_parse_time(NULL, &ns) == -1);
}

static void test_facts(void)
{
	struct json_object *m = json_tokener_parse(
		"{\"id\":\"1616965872395\",\"chatId\":\"19:abc@thread.v2\","
		"\"createdDateTime\":\"2021-03-17T06:47:05Z\","
		"\"lastModifiedDateTime\":\"2021-03-18T06:47:05Z\"}");
	struct json_object *c = json_tokener_parse(
		"{\"id\":\"1\",\"channelIdentity\":{\"teamId\":\"t\","
		"\"channelId\":\"19:c@thread.tacv2\"},"
		"\"lastModifiedDateTime\":\"bad\","
		"\"createdDateTime\":\"2021-03-17T06:47:05Z\"}");
	struct json_object *none = json_tokener_parse("{\"body\":{}}");
	struct message_facts f;

	CHECK(render_message_facts(m, 'u', &f) == 0);
	CHECK(f.id && !strcmp(f.id, "1616965872395"));
	CHECK(f.container && !strcmp(f.container, "19:abc@thread.v2"));
	CHECK(f.mtime_ns == 1616050025LL * 1000000000);
	CHECK(render_message_facts(c, 't', &f) == 0);
	CHECK(f.container && !strcmp(f.container, "19:c@thread.tacv2"));
	CHECK(f.mtime_ns == 1615963625LL * 1000000000);
	CHECK(render_message_facts(c, 'u', &f) == 0 && !f.container);
	CHECK(render_message_facts(none, 'u', &f) == 0);
	CHECK(!f.id && !f.container && f.mtime_ns == 0);
	CHECK(render_message_facts(json_object_new_int(3), 'u', &f) == -1);
	json_object_put(m);
	json_object_put(c);
	json_object_put(none);
}

static void test_render(void)
{
	const char *in = "{\"id\":\"1\",\"body\":{\"content\":\"caf\xc3\xa9 "
			 "<a href=\\\"https://x/y\\\">\\u00e9</a>\"},"
			 "\"n\":1.50,\"unknownField\":[true,null]}";
	struct json_object *o = json_tokener_parse(in), *back;
	size_t len;
	char *out = render_json(o, &len);

	CHECK(out && len == strlen(out));
	CHECK(out[len - 1] == '\n');
	CHECK(strstr(out, "\n  \"id\": \"1\"") != NULL);
	CHECK(strstr(out, "caf\xc3\xa9") != NULL); /* UTF-8 as is */
	CHECK(strstr(out, "https://x/y") != NULL); /* no \/ */
	CHECK(strstr(out, "1.50") != NULL);
	CHECK(strstr(out, "unknownField") != NULL);
	back = json_tokener_parse(out);
	CHECK(back && json_object_equal(o, back));
	json_object_put(back);
	json_object_put(o);
	free(out);
}

/* The pretty bytes made from the compact form are render_json()'s. */
static void check_pretty(const char *text)
{
	struct json_object *o = json_tokener_parse(text);
	size_t len, clen;
	char *want, *compact, *got;

	CHECK(o != NULL);
	if (!o)
		return;
	want = render_json(o, &len);
	compact = render_compact(o, &clen);
	CHECK(want && compact && strlen(compact) == clen);
	CHECK(render_pretty_len(compact, clen) == len);
	got = malloc(len + 1);
	CHECK(render_pretty(compact, clen, got, len) == len);
	got[len] = '\0';
	if (strcmp(got, want))
		fprintf(stderr, "pretty of %s:\n%s\nwant:\n%s\n", compact, got,
			want);
	CHECK(!strcmp(got, want));
	free(got);
	free(compact);
	free(want);
	json_object_put(o);
}

static void test_pretty(void)
{
	static const char *const cases[] = {
		"{}",
		"[]",
		"3",
		"\"a,b:{c}[d]\\\"e\"",
		"{\"a\":{},\"b\":[],\"c\":[{}],\"d\":[[]],\"e\":[1,[2,{}]]}",
		"{\"k{\":\"v}\",\"k,\":\"v:\\\\\",\"q\\\"\":null}",
		"{\"a\":{\"b\":{\"c\":{\"d\":[true,false,null,-1.5e3]}}}}",
		"{\"body\":{\"content\":\"<a href=\\\"https:\\/\\/x\\\">"
		"caf\u00e9 \\n\\t \\u0001\"}}",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"deep\"]]]]]]]]]]]]]]]]]]]]]]]"
		"]]]]]]]]",
	};
	/* Compact text that is not JSON still gets exactly its length. */
	static const char *const junk[] = {"}}]]", "\"open", "{\"a\\", ",:,:"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_pretty(cases[i]);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		size_t n = render_pretty_len(junk[i], strlen(junk[i]));
		char *out = malloc(n + 1);

		out[n] = 'X';
		render_pretty(junk[i], strlen(junk[i]), out, n);
		CHECK(out[n] == 'X' && out[n - 1] == '\n');
		free(out);
	}
}

int main(void)
{
	test_times();
	test_facts();
	test_render();
	test_pretty();
	return CHECK_DONE();
}
