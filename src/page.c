/* page.c - parsing a Graph collection page, strictly. */
#include "page.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

struct json_object *page_parse(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o, *value;

	if (len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!tok)
		return NULL;
	/* JSON as the RFC has it: no trailing commas, no numbers like "3e". */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, body, (int)len);
	/* Anything but one whole object (cut short, trailing bytes) fails. */
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "value", &value) ||
	    !json_object_is_type(value, json_type_array)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

const char *page_next_link(struct json_object *page)
{
	struct json_object *nl;

	if (json_object_object_get_ex(page, "@odata.nextLink", &nl) &&
	    json_object_is_type(nl, json_type_string))
		return json_object_get_string(nl);
	return NULL;
}

/* Where the strings of a message lie in the page's text while it grows. */
struct offs {
	size_t json, id, chat, chan;
};

#define NONE ((size_t)-1)

/* What a page of messages is while it is being read. */
struct build {
	struct page *pg;
	struct offs *offs;
	size_t next; /* offset of the next link, or NONE */
};

/* Makes room for @n more bytes of text. */
static int reserve(struct page *pg, size_t n)
{
	size_t cap = pg->text_cap ? pg->text_cap : 4096;
	char *p;

	if (pg->text_len + n <= pg->text_cap)
		return 0;
	while (cap < pg->text_len + n)
		cap *= 2;
	p = realloc(pg->text, cap);
	if (!p)
		return -ENOMEM;
	pg->text = p;
	pg->text_cap = cap;
	return 0;
}

static int put(struct page *pg, const char *s, size_t n)
{
	if (reserve(pg, n))
		return -1;
	memcpy(pg->text + pg->text_len, s, n);
	pg->text_len += n;
	return 0;
}

static int put_c(struct page *pg, char c)
{
	if (pg->text_len == pg->text_cap && reserve(pg, 1))
		return -1;
	pg->text[pg->text_len++] = c;
	return 0;
}

/* Adds an element at text offset @off to the page. */
static int add_msg(struct build *b, size_t off)
{
	struct page *pg = b->pg;

	if (pg->n == pg->cap) {
		size_t cap = pg->cap ? pg->cap * 2 : 64;
		struct page_msg *m = realloc(pg->msgs, cap * sizeof(*m));
		struct offs *o;

		if (!m)
			return -ENOMEM;
		pg->msgs = m;
		o = realloc(b->offs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		b->offs = o;
		pg->cap = cap;
	}
	memset(&pg->msgs[pg->n], 0, sizeof(pg->msgs[0]));
	b->offs[pg->n] = (struct offs){off, NONE, NONE, NONE};
	pg->n++;
	return 0;
}

/*
 * The single pass.  It accepts only what it reads exactly as json-c does,
 * and writes json-c's plain output as it goes; anything else fails it
 * (returns -1), and json-c decides.
 */
struct scan {
	const char *p, *end;
	struct page *pg;
	int depth;
};

#define SCAN_MAX_DEPTH 24 /* json-c refuses deeper than 32 */
#define SCAN_MAX_KEYS 64  /* members checked for repeats, per object */

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
				 *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Writes code point @cp as json-c writes the character it decoded. */
static int put_cp(struct page *pg, unsigned cp)
{
	static const char hex[] = "0123456789abcdef";
	char b[6];
	size_t n;

	switch (cp) {
	case '\b':
		return put(pg, "\\b", 2);
	case '\t':
		return put(pg, "\\t", 2);
	case '\n':
		return put(pg, "\\n", 2);
	case '\f':
		return put(pg, "\\f", 2);
	case '\r':
		return put(pg, "\\r", 2);
	case '"':
		return put(pg, "\\\"", 2);
	case '\\':
		return put(pg, "\\\\", 2);
	}
	if (cp < 0x20) {
		b[0] = '\\';
		b[1] = 'u';
		b[2] = '0';
		b[3] = '0';
		b[4] = hex[cp >> 4];
		b[5] = hex[cp & 15];
		return put(pg, b, 6);
	}
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put(pg, b, n);
}

/* Bytes copied as they are inside a string: not '"', '\\', controls. */
static inline int plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

static int scan_string(struct scan *s)
{
	struct page *pg = s->pg;

	if (put_c(pg, '"'))
		return -1;
	s->p++;
	for (;;) {
		const char *run = s->p;
		unsigned cp, lo;

		while (s->p < s->end && plain((unsigned char)*s->p))
			s->p++;
		if (put(pg, run, (size_t)(s->p - run)) || s->p >= s->end)
			return -1;
		if (*s->p == '"') {
			s->p++;
			return put_c(pg, '"');
		}
		if (*s->p != '\\' || s->end - s->p < 2)
			return -1; /* a raw control character, or cut */
		s->p += 2;
		switch (s->p[-1]) {
		case '"':
		case '\\':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			if (put(pg, s->p - 2, 2))
				return -1;
			continue;
		case '/':
			if (put_c(pg, '/'))
				return -1;
			continue;
		case 'u':
			break;
		default:
			return -1;
		}
		if (s->end - s->p < 4 || hex4(s->p, &cp))
			return -1;
		s->p += 4;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return -1;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (s->end - s->p < 6 || s->p[0] != '\\' ||
			    s->p[1] != 'u' || hex4(s->p + 2, &lo) ||
			    lo < 0xdc00 || lo > 0xdfff)
				return -1;
			s->p += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp == 0 || put_cp(pg, cp))
			return -1;
	}
}

static int scan_number(struct scan *s)
{
	const char *start = s->p;
	int neg = 0, digits = 0, whole = 1;

	if (*s->p == '-') {
		neg = 1;
		s->p++;
	}
	if (s->p < s->end && *s->p == '0') {
		s->p++;
		digits = -1; /* a zero */
	} else {
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
			s->p++;
			digits++;
		}
		if (!digits)
			return -1;
	}
	if (s->p < s->end && *s->p == '.') {
		whole = 0;
		if (++s->p == s->end || *s->p < '0' || *s->p > '9')
			return -1;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		whole = 0;
		if (++s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (s->p == s->end || *s->p < '0' || *s->p > '9')
			return -1;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	/* json-c writes integers back from 64 bits: "-0" becomes "0". */
	if (whole && (digits > 18 || (neg && digits < 0)))
		return -1;
	/* Other numbers json-c writes back as they were read. */
	return put(s->pg, start, (size_t)(s->p - start));
}

static int scan_literal(struct scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n))
		return -1;
	s->p += n;
	return put(s->pg, word, n);
}

static int scan_value(struct scan *s);

static int scan_object(struct scan *s)
{
	struct page *pg = s->pg;
	size_t koff[SCAN_MAX_KEYS], klen[SCAN_MAX_KEYS], nkeys = 0;

	if (++s->depth > SCAN_MAX_DEPTH || put_c(pg, '{'))
		return -1;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->depth--;
		return put_c(pg, '}');
	}
	for (;;) {
		size_t off = pg->text_len, len;

		if (s->p >= s->end || *s->p != '"' || scan_string(s))
			return -1;
		/* The same name twice: json-c keeps the first place and the
		 * last value. */
		len = pg->text_len - off;
		if (nkeys == SCAN_MAX_KEYS)
			return -1;
		for (size_t i = 0; i < nkeys; i++)
			if (klen[i] == len &&
			    !memcmp(pg->text + koff[i], pg->text + off, len))
				return -1;
		koff[nkeys] = off;
		klen[nkeys++] = len;
		ws(s);
		if (s->p >= s->end || *s->p != ':' || put_c(pg, ':'))
			return -1;
		s->p++;
		ws(s);
		if (scan_value(s))
			return -1;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == '}') {
			s->p++;
			s->depth--;
			return put_c(pg, '}');
		}
		if (*s->p != ',' || put_c(pg, ','))
			return -1;
		s->p++;
		ws(s);
	}
}

static int scan_array(struct scan *s)
{
	struct page *pg = s->pg;

	if (++s->depth > SCAN_MAX_DEPTH || put_c(pg, '['))
		return -1;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->depth--;
		return put_c(pg, ']');
	}
	for (;;) {
		if (scan_value(s))
			return -1;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ']') {
			s->p++;
			s->depth--;
			return put_c(pg, ']');
		}
		if (*s->p != ',' || put_c(pg, ','))
			return -1;
		s->p++;
		ws(s);
	}
}

static int scan_value(struct scan *s)
{
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{':
		return scan_object(s);
	case '[':
		return scan_array(s);
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s);
		return -1;
	}
}

/* The elements of "value", each written on its own, NUL after each. */
static int scan_messages(struct scan *s, struct build *b)
{
	struct page *pg = s->pg;

	if (s->p >= s->end || *s->p != '[' || ++s->depth > SCAN_MAX_DEPTH)
		return -1;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (add_msg(b, pg->text_len) || scan_value(s))
			return -1;
		pg->msgs[pg->n - 1].len =
			pg->text_len - b->offs[pg->n - 1].json;
		if (put_c(pg, '\0'))
			return -1;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ']') {
			s->p++;
			s->depth--;
			return 0;
		}
		if (*s->p != ',')
			return -1;
		s->p++;
		ws(s);
	}
}

static int scan_page(const char *body, size_t len, struct build *b)
{
	struct scan s = {body, body + len, b->pg, 1};
	struct page *pg = b->pg;
	int have_value = 0, have_next = 0;

	ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return -1;
	s.p++;
	ws(&s);
	while (s.p < s.end && *s.p != '}') {
		size_t off = pg->text_len, klen;
		int is_value, is_next;

		if (*s.p != '"' || scan_string(&s))
			return -1;
		klen = pg->text_len - off;
		is_value = klen == 7 && !memcmp(pg->text + off, "\"value\"", 7);
		is_next = klen == 17 &&
			  !memcmp(pg->text + off, "\"@odata.nextLink\"", 17);
		pg->text_len = off;
		/* A repeated "value" or next link: json-c takes the last. */
		if ((is_value && have_value++) || (is_next && have_next++))
			return -1;
		ws(&s);
		if (s.p >= s.end || *s.p != ':')
			return -1;
		s.p++;
		ws(&s);
		if (is_value) {
			if (scan_messages(&s, b))
				return -1;
		} else if (is_next && s.p < s.end && *s.p == '"') {
			if (scan_string(&s) || put_c(pg, '\0'))
				return -1;
			b->next = off;
		} else {
			if (scan_value(&s))
				return -1;
			pg->text_len = off;
		}
		ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			ws(&s);
			if (s.p < s.end && *s.p == '}')
				return -1;
		} else if (s.p < s.end && *s.p != '}') {
			return -1;
		}
	}
	if (s.p >= s.end || !have_value)
		return -1;
	s.p++;
	ws(&s);
	return s.p == s.end ? 0 : -1;
}

/* The same page through json-c. */
static int jsonc_page(const char *body, size_t len, struct build *b)
{
	struct json_object *root = page_parse(body, len), *value;
	struct page *pg = b->pg;
	const char *next;
	int rc = 0;

	if (!root)
		return -EINVAL;
	json_object_object_get_ex(root, "value", &value);
	for (size_t i = 0; !rc && i < json_object_array_length(value); i++) {
		struct json_object *m = json_object_array_get_idx(value, i);
		size_t n;
		const char *text = json_object_to_json_string_length(
			m,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
			&n);

		rc = text ? add_msg(b, pg->text_len) : -ENOMEM;
		if (!rc && (put(pg, text, n) || put_c(pg, '\0')))
			rc = -ENOMEM;
		if (!rc)
			pg->msgs[pg->n - 1].len = n;
	}
	next = page_next_link(root);
	if (!rc && next) {
		/* Written as a JSON string, as the single pass leaves it. */
		struct json_object *s = json_object_new_string(next);
		size_t n;
		const char *text =
			s ? json_object_to_json_string_length(
				    s, JSON_C_TO_STRING_NOSLASHESCAPE, &n)
			  : NULL;

		b->next = pg->text_len;
		if (!text || put(pg, text, n) || put_c(pg, '\0'))
			rc = -ENOMEM;
		json_object_put(s);
	}
	json_object_put(root);
	return rc;
}

/* -- the facts of a message, from its compact form -------------------- */

/* Returns the end of the value at @p of compact text. */
static const char *value_end(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		switch (*p) {
		case '"':
			p = render_string_end(p, end);
			break;
		case '{':
		case '[':
			depth++;
			p++;
			break;
		case '}':
		case ']':
			if (!depth)
				return p;
			p++;
			if (!--depth)
				return p;
			break;
		case ',':
			if (!depth)
				return p;
			p++;
			break;
		default:
			p++;
		}
	}
	return end;
}

/* Called for each member of an object of compact text. */
typedef void (*member_fn)(void *ctx, const char *key, size_t klen,
			  const char *v, const char *vend);

/* Calls @fn for each member of the object at @p. */
static void members(const char *p, const char *end, member_fn fn, void *ctx)
{
	if (p >= end || *p != '{')
		return;
	p++;
	while (p < end && *p == '"') {
		const char *k = p, *kend = render_string_end(p, end), *v, *vend;

		if (kend >= end || *kend != ':')
			return;
		v = kend + 1;
		vend = value_end(v, end);
		fn(ctx, k + 1, (size_t)(kend - k - 2), v, vend);
		if (vend >= end || *vend != ',')
			return;
		p = vend + 1;
	}
}

/* Spans of the strings a message is filed under, in its compact text. */
struct spans {
	const char *id, *chat, *chan, *modified, *created; /* at the quote */
	int may_attach;
};

static int key_is(const char *key, size_t klen, const char *want)
{
	return klen == strlen(want) && !memcmp(key, want, klen);
}

static void identity_member(void *ctx, const char *key, size_t klen,
			    const char *v, const char *vend)
{
	struct spans *sp = ctx;

	(void)vend;
	if (*v == '"' && key_is(key, klen, "channelId"))
		sp->chan = v;
}

static void message_member(void *ctx, const char *key, size_t klen,
			   const char *v, const char *vend)
{
	struct spans *sp = ctx;

	if (*v == '"') {
		if (key_is(key, klen, "id"))
			sp->id = v;
		else if (key_is(key, klen, "chatId"))
			sp->chat = v;
		else if (key_is(key, klen, "lastModifiedDateTime"))
			sp->modified = v;
		else if (key_is(key, klen, "createdDateTime"))
			sp->created = v;
	} else if (*v == '{' && key_is(key, klen, "channelIdentity")) {
		members(v, vend, identity_member, sp);
	} else if (*v == '[' && v + 1 < vend && v[1] != ']' &&
		   key_is(key, klen, "attachments")) {
		sp->may_attach = 1;
	}
}

/*
 * Decodes the string of compact text at @q (its opening quote) into @out,
 * NUL-terminated; returns its length.  @out has room for the string's
 * bytes: decoding never makes a string longer.
 */
static size_t unescape(const char *q, const char *end, char *out)
{
	const char *p = q + 1;
	size_t n = 0;

	while (p < end && *p != '"') {
		unsigned cp;

		if (*p != '\\' || end - p < 2) {
			out[n++] = *p++;
			continue;
		}
		p += 2;
		switch (p[-1]) {
		case 'b':
			out[n++] = '\b';
			continue;
		case 'f':
			out[n++] = '\f';
			continue;
		case 'n':
			out[n++] = '\n';
			continue;
		case 'r':
			out[n++] = '\r';
			continue;
		case 't':
			out[n++] = '\t';
			continue;
		case 'u':
			break;
		default:
			out[n++] = p[-1];
			continue;
		}
		/* json-c writes \u only for control characters. */
		if (end - p < 4 || hex4(p, &cp) || cp >= 0x80) {
			out[n++] = 'u';
			continue;
		}
		p += 4;
		out[n++] = (char)cp;
	}
	out[n] = '\0';
	return n;
}

/* Length of the string of compact text at @q, quotes included. */
static size_t span_len(const char *q, const char *end)
{
	return q ? (size_t)(render_string_end(q, end) - q) : 0;
}

/* Fills in the facts of message @i from its compact text. */
static int facts(struct build *b, size_t i)
{
	struct page *pg = b->pg;
	struct page_msg *m = &pg->msgs[i];
	struct offs *o = &b->offs[i];
	const char *json, *end;
	struct spans sp = {0};
	size_t need, base;
	char *out;

	json = pg->text + o->json;
	end = json + m->len;
	m->is_object = m->len && *json == '{';
	if (!m->is_object)
		return 0;
	members(json, end, message_member, &sp);
	/* A hosted content URL can only be in a string, unescaped. */
	if (memmem(json, m->len, "/hostedContents/", 16))
		sp.may_attach = 1;
	m->may_attach = sp.may_attach;
	need = span_len(sp.id, end) + span_len(sp.chat, end) +
	       span_len(sp.chan, end) + span_len(sp.modified, end) +
	       span_len(sp.created, end) + 5;
	/* Keep the spans as offsets while the text may move. */
	base = pg->text_len;
	{
		size_t id = sp.id ? (size_t)(sp.id - pg->text) : NONE;
		size_t chat = sp.chat ? (size_t)(sp.chat - pg->text) : NONE;
		size_t chan = sp.chan ? (size_t)(sp.chan - pg->text) : NONE;
		size_t mod =
			sp.modified ? (size_t)(sp.modified - pg->text) : NONE;
		size_t cre =
			sp.created ? (size_t)(sp.created - pg->text) : NONE;
		int ok = 0;

		if (reserve(pg, need))
			return -ENOMEM;
		out = pg->text + base;
		end = pg->text + o->json + m->len;
		if (id != NONE) {
			o->id = (size_t)(out - pg->text);
			m->id_len = unescape(pg->text + id, end, out);
			out += m->id_len + 1;
		}
		if (chat != NONE) {
			o->chat = (size_t)(out - pg->text);
			m->chat_len = unescape(pg->text + chat, end, out);
			out += m->chat_len + 1;
		}
		if (chan != NONE) {
			o->chan = (size_t)(out - pg->text);
			m->chan_len = unescape(pg->text + chan, end, out);
			out += m->chan_len + 1;
		}
		/* lastModifiedDateTime, else createdDateTime, else 0; the
		 * times are decoded into scratch space past the strings. */
		if (mod != NONE) {
			unescape(pg->text + mod, end, out);
			ok = !render_parse_time(out, &m->mtime_ns);
		}
		if (!ok && cre != NONE) {
			unescape(pg->text + cre, end, out);
			ok = !render_parse_time(out, &m->mtime_ns);
		}
		if (!ok)
			m->mtime_ns = 0;
	}
	pg->text_len = (size_t)(out - pg->text);
	return 0;
}

int page_read_messages(const char *body, size_t len, enum page_how how,
		       struct page **out)
{
	struct page *pg = calloc(1, sizeof(*pg));
	struct build b = {pg, NULL, NONE};
	int rc = -1;

	*out = NULL;
	if (!pg || reserve(pg, len + len / 4 + 64)) {
		free(pg);
		return -ENOMEM;
	}
	if (how != PAGE_JSONC_ONLY) {
		rc = scan_page(body, len, &b);
		pg->fast = !rc;
	}
	if (rc && how != PAGE_FAST_ONLY) {
		pg->n = 0;
		pg->text_len = 0;
		b.next = NONE;
		rc = jsonc_page(body, len, &b);
	} else if (rc) {
		rc = -EINVAL;
	}
	for (size_t i = 0; !rc && i < pg->n; i++)
		rc = facts(&b, i);
	if (rc) {
		free(b.offs);
		page_free(pg);
		return rc < 0 ? rc : -EINVAL;
	}
	/* The text stays where it is from now on: pointers into it. */
	for (size_t i = 0; i < pg->n; i++) {
		struct page_msg *m = &pg->msgs[i];
		struct offs *o = &b.offs[i];

		m->json = pg->text + o->json;
		m->id = o->id != NONE ? pg->text + o->id : NULL;
		m->chat = o->chat != NONE ? pg->text + o->chat : NULL;
		m->chan = o->chan != NONE ? pg->text + o->chan : NULL;
	}
	if (b.next != NONE) {
		char *q = pg->text + b.next;

		/* Decoded where it lies: a string never grows by it. */
		unescape(q, q + strlen(q), q);
		pg->next = q;
	}
	free(b.offs);
	*out = pg;
	return 0;
}

void page_free(struct page *pg)
{
	if (!pg)
		return;
	free(pg->msgs);
	free(pg->text);
	free(pg);
}
