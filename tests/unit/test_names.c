/* test_names.c - id to file name escaping, including long ids. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hash.h"
#include "names.h"

static const char *name(const char *id, const char *suffix)
{
	static char out[NAME_MAX_BYTES + 1];
	size_t n = name_from_id(id, strlen(id), suffix, out);

	CHECK(n == strlen(out));
	return out;
}

static void test_plain(void)
{
	CHECK_STR(name("1616965872395", ".json"), "1616965872395.json");
	CHECK_STR(name("19:meeting_"
		       "MjdhNjM4YzUtYzExZi00OTFkLTkzZTAtNTVlNmZmMDhkNGU2@"
		       "thread.v2",
		       ""),
		  "19:meeting_MjdhNjM4YzUtYzExZi00OTFkLTkzZTAtNTVlNmZmMDhkNGU2@"
		  "thread.v2");
	CHECK_STR(name("48:notes", ""), "48:notes");
	CHECK_STR(name("caf\xc3\xa9 \xf0\x9f\x98\x80", ""),
		  "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

static void test_escapes(void)
{
	char out[NAME_MAX_BYTES + 1];

	CHECK_STR(name("a/b", ""), "a%2Fb");
	CHECK_STR(name("100%", ".json"), "100%25.json");
	CHECK_STR(name("%2F", ""), "%252F");
	CHECK_STR(name(".", ""), "%2E");
	CHECK_STR(name("..", ""), "%2E%2E");
	CHECK_STR(name("...", ""), "...");
	CHECK_STR(name(".", ".json"), "%2E.json");
	CHECK_STR(name("", ""), "%");
	name_from_id("a\0b", 3, "", out);
	CHECK_STR(out, "a%00b");
}

static void test_long(void)
{
	char id[600], want_suffix[32];
	const char *n;
	size_t len;

	memset(id, 'x', 300);
	id[300] = '\0';
	n = name(id, ".json");
	len = strlen(n);
	CHECK(len == NAME_MAX_BYTES);
	snprintf(want_suffix, sizeof(want_suffix), "~%016llx.json",
		 (unsigned long long)hash_bytes(id, 300));
	CHECK(!strcmp(n + len - strlen(want_suffix), want_suffix));
	CHECK(!strncmp(n, id, len - strlen(want_suffix)));

	/* Exactly at the limit: kept whole. */
	id[250] = '\0';
	CHECK_STR(name(id, ".json"),
		  strcat(strcpy((char[300]){0}, id), ".json"));

	/* Escapes and multi-byte characters are never cut in half. */
	for (int i = 0; i < 200; i++)
		memcpy(id + 3 * i, i % 2 ? "\xe2\x82\xac" : "/%/", 3);
	id[600 - 1] = '\0';
	n = name(id, "");
	len = strlen(n);
	CHECK(len <= NAME_MAX_BYTES);
	CHECK(n[len - 17] == '~');
	for (size_t i = 0; i + 17 < len; i++)
		if (n[i] == '%')
			CHECK(i + 2 < len - 17);
	CHECK(((unsigned char)n[len - 18] & 0xc0) != 0xc0);
}

static void test_distinct(void)
{
	char a[NAME_MAX_BYTES + 1], b[NAME_MAX_BYTES + 1], id[400];

	memset(id, 'y', 399);
	id[399] = '\0';
	name_from_id(id, 399, ".json", a);
	id[398] = 'z';
	name_from_id(id, 399, ".json", b);
	CHECK(strcmp(a, b) != 0);
}

static void test_plausible(void)
{
	CHECK(name_is_plausible("1616965872395.json"));
	CHECK(name_is_plausible("a%2Fb"));
	CHECK(name_is_plausible("%noid-0123456789abcdef.json"));
	CHECK(name_is_plausible("%"));
	CHECK(name_is_plausible("%.json")); /* found by fuzz_names */
	CHECK(!name_is_plausible("%zz"));
	CHECK(!name_is_plausible("50%"));
	CHECK(!name_is_plausible(""));
}

int main(void)
{
	test_plain();
	test_escapes();
	test_long();
	test_distinct();
	test_plausible();
	return CHECK_DONE();
}
