/* render.c - timestamps, message facts and the bytes of a message file. */
#include "render.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Days from 1970-01-01 to the given proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly @n digits at *@s into @out, advancing *@s. */
static int digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*s)[i];

		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

int render_parse_time(const char *s, int64_t *ns)
{
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = 100000000;

	if (!s || digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d))
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ')
		s++;
	if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
		return -1;
	if (*s == ':') {
		s++;
		if (digits(&s, 2, &sec))
			return -1;
		if (*s == '.' || *s == ',') {
			s++;
			if (*s < '0' || *s > '9')
				return -1;
			for (; *s >= '0' && *s <= '9'; s++) {
				frac += (*s - '0') * scale;
				scale /= 10;
			}
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (digits(&s, 2, &oh))
			return -1;
		if (*s == ':')
			s++;
		if (digits(&s, 2, &om))
			return -1;
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
		    h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
	/* Nanoseconds in 64 bits span the years 1678 to 2261. */
	if (t < -9223372035LL || t > 9223372035LL)
		return -1;
	*ns = t * 1000000000 + frac;
	return 0;
}

/* Returns the string member @key of @obj, or NULL. */
static const char *str_member(struct json_object *obj, const char *key,
			      size_t *len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

int render_message_facts(struct json_object *msg, char kind,
			 struct message_facts *f)
{
	struct json_object *ident;
	size_t len;

	memset(f, 0, sizeof(*f));
	if (!json_object_is_type(msg, json_type_object))
		return -1;
	f->id = str_member(msg, "id", &f->id_len);
	if (kind == 'u')
		f->container = str_member(msg, "chatId", &f->container_len);
	else if (json_object_object_get_ex(msg, "channelIdentity", &ident) &&
		 json_object_is_type(ident, json_type_object))
		f->container =
			str_member(ident, "channelId", &f->container_len);
	if (render_parse_time(str_member(msg, "lastModifiedDateTime", &len),
			      &f->mtime_ns) &&
	    render_parse_time(str_member(msg, "createdDateTime", &len),
			      &f->mtime_ns))
		f->mtime_ns = 0;
	return 0;
}

char *render_compact(struct json_object *obj, size_t *len)
{
	size_t n;
	const char *text = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&n);
	char *out;

	if (!text)
		return NULL;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	memcpy(out, text, n + 1);
	*len = n;
	return out;
}

/* Nonzero bytes of the result where @x has byte @c (exact, no carries). */
static inline uint64_t bytes_equal(uint64_t x, unsigned char c)
{
	uint64_t y = x ^ (0x0101010101010101ULL * c);

	y = ~(((y & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | y);
	return y & 0x8080808080808080ULL;
}

/*
 * The string from @p (past its opening quote) on, escapes skipped: eight
 * bytes at a time up to the next '"' or '\\'.
 */
static const char *string_rest(const char *p, const char *end)
{
	while (p < end) {
		while (end - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if (bytes_equal(w, '"') | bytes_equal(w, '\\'))
				break;
			p += 8;
		}
		while (p < end && *p != '"' && *p != '\\')
			p++;
		if (p >= end)
			return end;
		if (*p == '"')
			return p + 1;
		p += 2;
	}
	return end;
}

const char *render_string_end(const char *p, const char *end)
{
	return p < end ? string_rest(p + 1, end) : end;
}

/* Where pretty() writes: at most @cap bytes at @buf, all of them counted. */
struct out {
	char *buf;
	size_t cap, pos;
};

static inline void put(struct out *o, const char *s, size_t n)
{
	if (o->pos + n <= o->cap)
		memcpy(o->buf + o->pos, s, n);
	else if (o->pos < o->cap)
		memcpy(o->buf + o->pos, s, o->cap - o->pos);
	o->pos += n;
}

/* Appends a newline and @level steps of indentation. */
static void newline(struct out *o, int level)
{
	static const char spaces[] = "\n                                "
				     "                                "
				     "                                "
				     "                               ";
	size_t n = (size_t)(level > 0 ? level : 0) * 2 + 1;

	if (n <= sizeof(spaces) - 1) {
		put(o, spaces, n);
		return;
	}
	put(o, spaces, 1);
	for (n--; n;) {
		size_t k = n < sizeof(spaces) - 2 ? n : sizeof(spaces) - 2;

		put(o, spaces + 1, k);
		n -= k;
	}
}

/*
 * json-c's pretty printing (JSON_C_TO_STRING_PRETTY | SPACED), redone on its
 * plain output: a newline and two spaces a level after every '{' and '[',
 * after every ',' between members or elements and before every closing
 * bracket (an empty object is "{", newline, indentation, "}"), and a space
 * after every ':'.  Strings are copied as they are.
 */
size_t render_pretty(const char *json, size_t len, char *buf, size_t cap)
{
	static const unsigned char special[256] = {
		['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1,
		[']'] = 1, [','] = 1, [':'] = 1,
	};
	struct out o = {buf, buf ? cap : 0, 0};
	const char *p = json, *end = json + len;
	int level = 0;

	while (p < end) {
		const char *run = p;
		char c;

		/* Copy everything up to the next character that matters. */
		while (p < end && !special[(unsigned char)*p])
			p++;
		if (p > run)
			put(&o, run, (size_t)(p - run));
		if (p == end)
			break;
		c = *p++;
		switch (c) {
		case '"':
			run = p - 1;
			p = string_rest(p, end);
			put(&o, run, (size_t)(p - run));
			break;
		case '{':
		case '[':
			put(&o, &c, 1);
			level++;
			/* json-c: "{", newline, then the members or "}" */
			if (p < end && (*p == '}' || *p == ']'))
				newline(&o, level - 1);
			else
				newline(&o, level);
			break;
		case '}':
		case ']':
			level--;
			if (p - 1 > json && p[-2] != '{' && p[-2] != '[')
				newline(&o, level);
			put(&o, &c, 1);
			break;
		case ',':
			put(&o, &c, 1);
			newline(&o, level);
			break;
		case ':':
			put(&o, ": ", 2);
			break;
		}
	}
	put(&o, "\n", 1);
	return o.pos;
}

size_t render_pretty_len(const char *json, size_t len)
{
	return render_pretty(json, len, NULL, 0);
}

char *render_json(struct json_object *obj, size_t *len)
{
	size_t n;
	const char *text = json_object_to_json_string_length(
		obj,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			JSON_C_TO_STRING_NOSLASHESCAPE,
		&n);
	char *out;

	if (!text)
		return NULL;
	out = malloc(n + 2);
	if (!out)
		return NULL;
	memcpy(out, text, n);
	out[n] = '\n';
	out[n + 1] = '\0';
	*len = n + 1;
	return out;
}
