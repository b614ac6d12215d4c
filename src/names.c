/* names.c - Graph ids to file names and back to plausibility checks. */
#include "names.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"

/* Length of the output unit that starts at @p: an escape or one character. */
static size_t unit_len(const unsigned char *p, size_t left, int *escape)
{
	size_t n = 1;

	*escape = (*p == '%' || *p == '/' || *p == '\0');
	if (*escape)
		return 3;
	if (*p >= 0xf0 && *p < 0xf8)
		n = 4;
	else if (*p >= 0xe0)
		n = 3;
	else if (*p >= 0xc0)
		n = 2;
	if (n > left)
		return 1;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/* Appends the unit at @p (of raw length @raw) to @out; returns bytes written */
static size_t put_unit(char *out, const unsigned char *p, size_t raw,
		       int escape)
{
	if (escape) {
		snprintf(out, 4, "%%%02X", *p);
		return 3;
	}
	memcpy(out, p, raw);
	return raw;
}

size_t name_from_id(const char *id, size_t len, const char *suffix, char *out)
{
	const unsigned char *p = (const unsigned char *)id;
	size_t slen = strlen(suffix), total = 0, n = 0, limit;
	int escape;

	if (len == 0)
		return (size_t)snprintf(out, NAME_MAX_BYTES + 1, "%%%s",
					suffix);
	if (len == 1 && id[0] == '.')
		return (size_t)snprintf(out, NAME_MAX_BYTES + 1, "%%2E%s",
					suffix);
	if (len == 2 && id[0] == '.' && id[1] == '.')
		return (size_t)snprintf(out, NAME_MAX_BYTES + 1, "%%2E%%2E%s",
					suffix);

	for (size_t i = 0; i < len;) {
		size_t raw = unit_len(p + i, len - i, &escape);

		total += escape ? 3 : raw;
		i += escape ? 1 : raw;
	}
	limit = total + slen <= NAME_MAX_BYTES ? total
					       : NAME_MAX_BYTES - slen - 17;
	for (size_t i = 0; i < len;) {
		size_t raw = unit_len(p + i, len - i, &escape);
		size_t w = escape ? 3 : raw;

		if (n + w > limit)
			break;
		n += put_unit(out + n, p + i, raw, escape);
		i += escape ? 1 : raw;
	}
	if (limit != total)
		n += (size_t)snprintf(out + n, 18, "~%016llx",
				      (unsigned long long)hash_bytes(id, len));
	memcpy(out + n, suffix, slen + 1);
	return n + slen;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
	       (c >= 'a' && c <= 'f');
}

int name_is_plausible(const char *name)
{
	if (!name[0] || strlen(name) > NAME_MAX_BYTES)
		return 0;
	/* "%" alone is the empty id, "%.json" its message file. */
	if ((name[0] == '%' && (!name[1] || name[1] == '.')) ||
	    !strncmp(name, "%n", 2))
		return 1;
	for (const char *p = name; *p; p++)
		if (*p == '%' && !(is_hex(p[1]) && is_hex(p[2])))
			return 0;
	return 1;
}
