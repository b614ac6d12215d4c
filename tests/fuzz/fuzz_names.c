/*
 * fuzz_names.c - every id gives a name the kernel accepts: at most 255
 * bytes, no '/' or NUL, never "." or "..", and plausible to a lookup; and
 * two different ids never give the same name unless shortened.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

static void check(const char *name, size_t n)
{
	if (n == 0 || n > NAME_MAX_BYTES || n != strlen(name) ||
	    memchr(name, '/', n) || !strcmp(name, ".") || !strcmp(name, "..") ||
	    !name_is_plausible(name))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a[NAME_MAX_BYTES + 1], b[NAME_MAX_BYTES + 1];
	size_t half = size / 2, na, nb;

	check(a, name_from_id((const char *)data, size, "", a));
	check(a, name_from_id((const char *)data, size, ".json", a));
	/* Injective unless the hash suffix stands in for the rest. */
	na = name_from_id((const char *)data, half, "", a);
	nb = name_from_id((const char *)data + half, size - half, "", b);
	if (na == nb && !memcmp(a, b, na) &&
	    (half != size - half || memcmp(data, data + half, half)) &&
	    !strchr(a, '~'))
		abort();
	return 0;
}
