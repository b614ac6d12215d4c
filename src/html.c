/*
 * html.c - message bodies as a safe HTML fragment and as wrapped text.
 *
 * One tokenizer, modelled on HTML5's and never failing, feeds one tree
 * builder.  The builder keeps only allowed elements and, before it opens
 * one, closes what a browser would close on its own there (an open <p>
 * before a block, the previous <li>, a cell before a row), so the fragment
 * it writes parses in a browser to the tree it built: its end tags only
 * ever close its own elements, never one of the page around it.  Two
 * writers consume the builder's events: HTML and plain text.
 */
#include "html.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Growing buffers ---------------------------------------------------- */

/* Makes room for @n more bytes and a terminating NUL. */
static int sbuf_room(struct sbuf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return -1;
	if (n > SIZE_MAX - b->len - 1) {
		b->oom = 1;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap <= SIZE_MAX / 2 ? cap * 2 : need;
	p = realloc(b->data, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void sbuf_add(struct sbuf *b, const void *p, size_t n)
{
	if (sbuf_room(b, n))
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
	if (s)
		sbuf_add(b, s, strlen(s));
}

void sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sbuf_room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sbuf_free(struct sbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Cuts the buffer to @len bytes, keeping it terminated. */
static void sbuf_cut(struct sbuf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/* The buffer as a C string ("" when empty). */
static const char *sbuf_str(const struct sbuf *b)
{
	return b->data && !b->oom ? b->data : "";
}

/* ---- UTF-8 -------------------------------------------------------------- */

#define REPLACEMENT 0xfffdu

/*
 * Decodes the character at @s (@n > 0 bytes) into *@cp and returns its
 * length; an invalid sequence gives U+FFFD and the length of its longest
 * valid beginning (at least 1 byte).
 */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*cp = REPLACEMENT;
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*cp = REPLACEMENT;
			return i;
		}
		v = v << 6 | (s[i] & 0x3f);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = v;
	return len;
}

static void put_cp(struct sbuf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sbuf_add(b, u, n);
}

/* Controls (C0 but tab, line feed and carriage return; DEL; C1). */
static int is_control(uint32_t cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
	       (cp >= 0x7f && cp < 0xa0);
}

/*
 * What a character of text becomes: carriage return a line feed, form feed
 * a space, other controls and impossible code points U+FFFD (a control in
 * a text file can drive the terminal it is shown on).
 */
static uint32_t clean_cp(uint32_t cp)
{
	if (cp == '\r')
		return '\n';
	if (cp == '\f')
		return ' ';
	if (is_control(cp) || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)
		return REPLACEMENT;
	return cp;
}

static int plain_ascii(unsigned char c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t';
}

/* Appends @n bytes of text cleaned: valid UTF-8, CR LF and CR as LF. */
static void add_clean(struct sbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run;
	uint32_t cp;

	while (i < n) {
		for (run = i; run < n && plain_ascii(u[run]); run++)
			;
		if (run > i)
			sbuf_add(b, u + i, run - i);
		if (run == n)
			break;
		i = run;
		if (u[i] == '\r') {
			sbuf_add(b, "\n", 1);
			i += i + 1 < n && u[i + 1] == '\n' ? 2 : 1;
			continue;
		}
		i += utf8_next(u + i, n - i, &cp);
		put_cp(b, clean_cp(cp));
	}
}

void sbuf_add_escaped(struct sbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run;
	uint32_t cp;

	while (i < n) {
		for (run = i;
		     run < n && (plain_ascii(u[run]) || u[run] == '\r') &&
		     !strchr("&<>\"'", u[run]);
		     run++)
			;
		if (run > i)
			sbuf_add(b, u + i, run - i);
		if (run == n)
			break;
		i = run;
		switch (u[i]) {
		case '&':
			sbuf_adds(b, "&amp;");
			break;
		case '<':
			sbuf_adds(b, "&lt;");
			break;
		case '>':
			sbuf_adds(b, "&gt;");
			break;
		case '"':
			sbuf_adds(b, "&quot;");
			break;
		case '\'':
			sbuf_adds(b, "&#39;");
			break;
		default:
			i += utf8_next(u + i, n - i, &cp);
			put_cp(b, is_control(cp) ? REPLACEMENT : cp);
			continue;
		}
		i++;
	}
}

/* ---- Character references ----------------------------------------------- */

struct entity {
	const char *name;
	uint32_t cp;
};

/* In strcmp() order, for bsearch(). */
static const struct entity entities[] = {
	{"AElig", 0xc6},    {"Aacute", 0xc1},	{"Acirc", 0xc2},
	{"Agrave", 0xc0},   {"Aring", 0xc5},	{"Atilde", 0xc3},
	{"Auml", 0xc4},	    {"Ccedil", 0xc7},	{"Dagger", 0x2021},
	{"ETH", 0xd0},	    {"Eacute", 0xc9},	{"Ecirc", 0xca},
	{"Egrave", 0xc8},   {"Euml", 0xcb},	{"Iacute", 0xcd},
	{"Icirc", 0xce},    {"Igrave", 0xcc},	{"Iuml", 0xcf},
	{"Ntilde", 0xd1},   {"OElig", 0x152},	{"Oacute", 0xd3},
	{"Ocirc", 0xd4},    {"Ograve", 0xd2},	{"Oslash", 0xd8},
	{"Otilde", 0xd5},   {"Ouml", 0xd6},	{"Prime", 0x2033},
	{"Scaron", 0x160},  {"THORN", 0xde},	{"Uacute", 0xda},
	{"Ucirc", 0xdb},    {"Ugrave", 0xd9},	{"Uuml", 0xdc},
	{"Yacute", 0xdd},   {"Yuml", 0x178},	{"aacute", 0xe1},
	{"acirc", 0xe2},    {"acute", 0xb4},	{"aelig", 0xe6},
	{"agrave", 0xe0},   {"amp", '&'},	{"apos", '\''},
	{"aring", 0xe5},    {"atilde", 0xe3},	{"auml", 0xe4},
	{"bdquo", 0x201e},  {"brvbar", 0xa6},	{"bull", 0x2022},
	{"ccedil", 0xe7},   {"cedil", 0xb8},	{"cent", 0xa2},
	{"circ", 0x2c6},    {"copy", 0xa9},	{"curren", 0xa4},
	{"dagger", 0x2020}, {"darr", 0x2193},	{"deg", 0xb0},
	{"divide", 0xf7},   {"eacute", 0xe9},	{"ecirc", 0xea},
	{"egrave", 0xe8},   {"emsp", 0x2003},	{"ensp", 0x2002},
	{"eth", 0xf0},	    {"euml", 0xeb},	{"euro", 0x20ac},
	{"frac12", 0xbd},   {"frac14", 0xbc},	{"frac34", 0xbe},
	{"gt", '>'},	    {"harr", 0x2194},	{"hellip", 0x2026},
	{"iacute", 0xed},   {"icirc", 0xee},	{"iexcl", 0xa1},
	{"igrave", 0xec},   {"iquest", 0xbf},	{"iuml", 0xef},
	{"laquo", 0xab},    {"larr", 0x2190},	{"ldquo", 0x201c},
	{"lrm", 0x200e},    {"lsaquo", 0x2039}, {"lsquo", 0x2018},
	{"lt", '<'},	    {"macr", 0xaf},	{"mdash", 0x2014},
	{"micro", 0xb5},    {"middot", 0xb7},	{"minus", 0x2212},
	{"nbsp", 0xa0},	    {"ndash", 0x2013},	{"not", 0xac},
	{"ntilde", 0xf1},   {"oacute", 0xf3},	{"ocirc", 0xf4},
	{"oelig", 0x153},   {"ograve", 0xf2},	{"ordf", 0xaa},
	{"ordm", 0xba},	    {"oslash", 0xf8},	{"otilde", 0xf5},
	{"ouml", 0xf6},	    {"para", 0xb6},	{"permil", 0x2030},
	{"plusmn", 0xb1},   {"pound", 0xa3},	{"prime", 0x2032},
	{"quot", '"'},	    {"raquo", 0xbb},	{"rarr", 0x2192},
	{"rdquo", 0x201d},  {"reg", 0xae},	{"rlm", 0x200f},
	{"rsaquo", 0x203a}, {"rsquo", 0x2019},	{"sbquo", 0x201a},
	{"scaron", 0x161},  {"sect", 0xa7},	{"shy", 0xad},
	{"sup1", 0xb9},	    {"sup2", 0xb2},	{"sup3", 0xb3},
	{"szlig", 0xdf},    {"thinsp", 0x2009}, {"thorn", 0xfe},
	{"tilde", 0x2dc},   {"times", 0xd7},	{"trade", 0x2122},
	{"uacute", 0xfa},   {"uarr", 0x2191},	{"ucirc", 0xfb},
	{"ugrave", 0xf9},   {"uml", 0xa8},	{"uuml", 0xfc},
	{"yacute", 0xfd},   {"yen", 0xa5},	{"yuml", 0xff},
	{"zwj", 0x200d},    {"zwnj", 0x200c},
};

/* Names HTML still decodes without the semicolon ("&amp" in old mail). */
static const char *const legacy_entities[] = {"amp",  "lt",   "gt", "quot",
					      "nbsp", "copy", "reg"};

/* What numeric references 0x80-0x9F mean (Windows-1252), 0 if nothing. */
static const uint16_t cp1252[32] = {
	0x20ac, 0,	0x201a, 0x192,	0x201e, 0x2026, 0x2020, 0x2021,
	0x2c6,	0x2030, 0x160,	0x2039, 0x152,	0,	0x17d,	0,
	0,	0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x2dc,	0x2122, 0x161,	0x203a, 0x153,	0,	0x17e,	0x178,
};

struct name_key {
	const char *s;
	size_t n;
};

static int entity_cmp(const void *key, const void *elem)
{
	const struct name_key *k = key;
	const char *name = ((const struct entity *)elem)->name;
	size_t len = strlen(name);
	int c = strncmp(k->s, name, k->n < len ? k->n : len);

	if (c)
		return c;
	return k->n < len ? -1 : k->n > len;
}

static uint32_t numeric_cp(uint32_t v)
{
	if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
		return REPLACEMENT;
	if (v >= 0x80 && v < 0xa0 && cp1252[v - 0x80])
		return cp1252[v - 0x80];
	return v;
}

static int digit_value(unsigned char c, int hex)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

static int is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/*
 * Decodes the reference at @s ('&', @n bytes available) into @dst; returns
 * the bytes used.  Something that is not a known reference is the '&'
 * alone, and the rest is read again as text.
 */
static size_t entity(struct sbuf *dst, const char *s, size_t n, int in_attr)
{
	const struct entity *e;
	struct name_key key;
	size_t i = 1, start;
	uint32_t v = 0;
	int hex = 0, d;

	if (n > 1 && s[1] == '#') {
		i = 2;
		if (i < n && (s[i] == 'x' || s[i] == 'X')) {
			hex = 1;
			i++;
		}
		start = i;
		for (; i < n && (d = digit_value(s[i], hex)) >= 0; i++)
			if (v <= 0x10ffff)
				v = v * (hex ? 16 : 10) + (uint32_t)d;
		if (i == start) {
			sbuf_add(dst, "&", 1);
			return 1;
		}
		if (i < n && s[i] == ';')
			i++;
		put_cp(dst, clean_cp(numeric_cp(v)));
		return i;
	}
	while (i < n && i <= 32 && is_alnum(s[i]))
		i++;
	key.s = s + 1;
	key.n = i - 1;
	if (key.n && i < n && s[i] == ';') {
		e = bsearch(&key, entities,
			    sizeof(entities) / sizeof(*entities),
			    sizeof(*entities), entity_cmp);
		if (e) {
			put_cp(dst, e->cp);
			return i + 1;
		}
	} else if (key.n && !(in_attr && i < n && s[i] == '=')) {
		for (size_t k = 0;
		     k < sizeof(legacy_entities) / sizeof(*legacy_entities);
		     k++) {
			if (strlen(legacy_entities[k]) == key.n &&
			    !memcmp(legacy_entities[k], key.s, key.n)) {
				e = bsearch(&key, entities,
					    sizeof(entities) /
						    sizeof(*entities),
					    sizeof(*entities), entity_cmp);
				put_cp(dst, e->cp);
				return i;
			}
		}
	}
	sbuf_add(dst, "&", 1);
	return 1;
}

/* Appends text or an attribute value with its references decoded, clean. */
static void decode(struct sbuf *dst, const char *s, size_t n, int in_attr)
{
	size_t i = 0, end;
	const char *amp;

	while (i < n) {
		amp = memchr(s + i, '&', n - i);
		end = amp ? (size_t)(amp - s) : n;
		add_clean(dst, s + i, end - i);
		if (!amp)
			break;
		i = end + entity(dst, s + end, n - end, in_attr);
	}
}

/* ---- Elements ----------------------------------------------------------- */

/* What the output can hold, and the builder's own marks. */
enum etag {
	E_NONE,
	E_P,
	E_BR,
	E_DIV,
	E_SPAN,
	E_B,
	E_STRONG,
	E_I,
	E_EM,
	E_U,
	E_S,
	E_STRIKE,
	E_DEL,
	E_INS,
	E_SUB,
	E_SUP,
	E_SMALL,
	E_CODE,
	E_PRE,
	E_BLOCKQUOTE,
	E_UL,
	E_OL,
	E_LI,
	E_H1,
	E_H2,
	E_H3,
	E_H4,
	E_H5,
	E_H6,
	E_HR,
	E_TABLE,
	E_THEAD,
	E_TBODY,
	E_TFOOT,
	E_TR,
	E_TD,
	E_TH,
	E_MENTION, /* <span class="mention"> */
	E_LINK,	   /* an <a href> being read: not written */
	E_DROP,	   /* inside an element whose content is dropped */
};

static const char *const etag_names[] = {
	"",    "p",   "br",    "div",	"span",	  "b",		"strong",
	"i",   "em",  "u",     "s",	"strike", "del",	"ins",
	"sub", "sup", "small", "code",	"pre",	  "blockquote", "ul",
	"ol",  "li",  "h1",    "h2",	"h3",	  "h4",		"h5",
	"h6",  "hr",  "table", "thead", "tbody",  "tfoot",	"tr",
	"td",  "th",  "span",  "a",	"",
};

_Static_assert(sizeof(etag_names) / sizeof(*etag_names) == E_DROP + 1,
	       "a name for every etag");

#define M(e) (UINT64_C(1) << (e))
#define M_HEADINGS (M(E_H1) | M(E_H2) | M(E_H3) | M(E_H4) | M(E_H5) | M(E_H6))
#define M_SECTIONS (M(E_THEAD) | M(E_TBODY) | M(E_TFOOT))
/* Where text or an element needs a cell opened first. */
#define M_TABLECTX (M(E_TABLE) | M_SECTIONS | M(E_TR))
/* What a browser's "has an element in scope" stops at. */
#define M_SCOPE (M(E_TABLE) | M(E_TD) | M(E_TH))
/* Blocks that close an open <p>. */
#define M_BLOCK                                                                \
	(M(E_P) | M(E_DIV) | M(E_PRE) | M(E_BLOCKQUOTE) | M(E_UL) | M(E_OL) |  \
	 M(E_LI) | M_HEADINGS | M(E_HR) | M(E_TABLE))
/* What stops a browser's search for the <li> that a new <li> closes. */
#define M_LI_STOP                                                              \
	(M(E_BLOCKQUOTE) | M(E_OL) | M(E_UL) | M(E_PRE) | M_HEADINGS |         \
	 M_TABLECTX | M(E_TD) | M(E_TH))
/* Elements that end lines in text. */
#define M_LINE (M_BLOCK | M_SECTIONS | M(E_TR))

/* How an input element is treated. */
enum kind {
	K_UNKNOWN, /* tags dropped, content kept */
	K_ELEM,	   /* kept as (or mapped to) etag */
	K_DROP,	   /* dropped with its content */
	K_SHOWRAW, /* raw text shown as preformatted (xmp, plaintext) */
	K_A,
	K_IMG,
	K_AT,
	K_EMOJI,
};

#define T_VOID 1      /* has no end tag and no content */
#define T_RAW 2	      /* content is raw text up to its end tag */
#define T_PLAINTEXT 4 /* content is raw text up to the end of input */
#define T_BREAKOUT 8  /* ends <svg> or <math> in a browser */

struct tag_info {
	const char *name;
	unsigned char kind, etag, flags;
};

/* In strcmp() order, for bsearch(). */
static const struct tag_info tags[] = {
	{"a", K_A, 0, 0},
	{"address", K_ELEM, E_DIV, 0},
	{"applet", K_DROP, 0, 0},
	{"area", K_UNKNOWN, 0, T_VOID},
	{"article", K_ELEM, E_DIV, 0},
	{"aside", K_ELEM, E_DIV, 0},
	{"at", K_AT, 0, 0},
	{"b", K_ELEM, E_B, T_BREAKOUT},
	{"base", K_UNKNOWN, 0, T_VOID},
	{"basefont", K_UNKNOWN, 0, T_VOID},
	{"bgsound", K_UNKNOWN, 0, T_VOID},
	{"big", K_UNKNOWN, 0, T_BREAKOUT},
	{"blockquote", K_ELEM, E_BLOCKQUOTE, T_BREAKOUT},
	{"body", K_UNKNOWN, 0, T_BREAKOUT},
	{"br", K_ELEM, E_BR, T_VOID | T_BREAKOUT},
	{"caption", K_ELEM, E_DIV, 0},
	{"center", K_ELEM, E_DIV, T_BREAKOUT},
	{"code", K_ELEM, E_CODE, T_BREAKOUT},
	{"col", K_UNKNOWN, 0, T_VOID},
	{"dd", K_ELEM, E_DIV, T_BREAKOUT},
	{"del", K_ELEM, E_DEL, 0},
	{"details", K_ELEM, E_DIV, 0},
	{"dialog", K_ELEM, E_DIV, 0},
	{"dir", K_ELEM, E_UL, 0},
	{"div", K_ELEM, E_DIV, T_BREAKOUT},
	{"dl", K_ELEM, E_DIV, T_BREAKOUT},
	{"dt", K_ELEM, E_DIV, T_BREAKOUT},
	{"em", K_ELEM, E_EM, T_BREAKOUT},
	{"embed", K_UNKNOWN, 0, T_VOID | T_BREAKOUT},
	{"emoji", K_EMOJI, 0, 0},
	{"fieldset", K_ELEM, E_DIV, 0},
	{"figcaption", K_ELEM, E_DIV, 0},
	{"figure", K_ELEM, E_DIV, 0},
	{"footer", K_ELEM, E_DIV, 0},
	{"form", K_ELEM, E_DIV, 0},
	{"frame", K_UNKNOWN, 0, T_VOID},
	{"frameset", K_DROP, 0, 0},
	{"h1", K_ELEM, E_H1, T_BREAKOUT},
	{"h2", K_ELEM, E_H2, T_BREAKOUT},
	{"h3", K_ELEM, E_H3, T_BREAKOUT},
	{"h4", K_ELEM, E_H4, T_BREAKOUT},
	{"h5", K_ELEM, E_H5, T_BREAKOUT},
	{"h6", K_ELEM, E_H6, T_BREAKOUT},
	{"head", K_UNKNOWN, 0, T_BREAKOUT},
	{"header", K_ELEM, E_DIV, 0},
	{"hgroup", K_ELEM, E_DIV, 0},
	{"hr", K_ELEM, E_HR, T_VOID | T_BREAKOUT},
	{"i", K_ELEM, E_I, T_BREAKOUT},
	{"iframe", K_DROP, 0, T_RAW},
	{"image", K_IMG, 0, T_VOID},
	{"img", K_IMG, 0, T_VOID | T_BREAKOUT},
	{"input", K_UNKNOWN, 0, T_VOID},
	{"ins", K_ELEM, E_INS, 0},
	{"kbd", K_ELEM, E_CODE, 0},
	{"keygen", K_UNKNOWN, 0, T_VOID},
	{"legend", K_ELEM, E_DIV, 0},
	{"li", K_ELEM, E_LI, T_BREAKOUT},
	{"link", K_UNKNOWN, 0, T_VOID},
	{"listing", K_ELEM, E_PRE, T_BREAKOUT},
	{"main", K_ELEM, E_DIV, 0},
	{"math", K_DROP, 0, 0},
	{"menu", K_ELEM, E_UL, T_BREAKOUT},
	{"meta", K_UNKNOWN, 0, T_VOID | T_BREAKOUT},
	{"nav", K_ELEM, E_DIV, 0},
	{"nobr", K_UNKNOWN, 0, T_BREAKOUT},
	{"noembed", K_DROP, 0, T_RAW},
	{"noframes", K_DROP, 0, T_RAW},
	{"noscript", K_DROP, 0, T_RAW},
	{"object", K_DROP, 0, 0},
	{"ol", K_ELEM, E_OL, T_BREAKOUT},
	{"p", K_ELEM, E_P, T_BREAKOUT},
	{"param", K_UNKNOWN, 0, T_VOID},
	{"plaintext", K_SHOWRAW, 0, T_RAW | T_PLAINTEXT},
	{"pre", K_ELEM, E_PRE, T_BREAKOUT},
	{"ruby", K_UNKNOWN, 0, T_BREAKOUT},
	{"s", K_ELEM, E_S, T_BREAKOUT},
	{"samp", K_ELEM, E_CODE, 0},
	{"script", K_DROP, 0, T_RAW},
	{"section", K_ELEM, E_DIV, 0},
	{"select", K_DROP, 0, 0},
	{"small", K_ELEM, E_SMALL, T_BREAKOUT},
	{"source", K_UNKNOWN, 0, T_VOID},
	{"span", K_ELEM, E_SPAN, T_BREAKOUT},
	{"strike", K_ELEM, E_STRIKE, T_BREAKOUT},
	{"strong", K_ELEM, E_STRONG, T_BREAKOUT},
	{"style", K_DROP, 0, T_RAW},
	{"sub", K_ELEM, E_SUB, T_BREAKOUT},
	{"summary", K_ELEM, E_DIV, 0},
	{"sup", K_ELEM, E_SUP, T_BREAKOUT},
	{"svg", K_DROP, 0, 0},
	{"table", K_ELEM, E_TABLE, T_BREAKOUT},
	{"tbody", K_ELEM, E_TBODY, 0},
	{"td", K_ELEM, E_TD, 0},
	{"template", K_DROP, 0, 0},
	{"textarea", K_DROP, 0, T_RAW},
	{"tfoot", K_ELEM, E_TFOOT, 0},
	{"th", K_ELEM, E_TH, 0},
	{"thead", K_ELEM, E_THEAD, 0},
	{"title", K_DROP, 0, T_RAW},
	{"tr", K_ELEM, E_TR, 0},
	{"track", K_UNKNOWN, 0, T_VOID},
	{"tt", K_ELEM, E_CODE, T_BREAKOUT},
	{"u", K_ELEM, E_U, T_BREAKOUT},
	{"ul", K_ELEM, E_UL, T_BREAKOUT},
	{"var", K_ELEM, E_I, T_BREAKOUT},
	{"wbr", K_UNKNOWN, 0, T_VOID},
	{"xmp", K_SHOWRAW, 0, T_RAW},
};

static int tag_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tag_info *)elem)->name);
}

/* ---- Tokenizer ---------------------------------------------------------- */

#define NAME_CAP 24 /* tag names kept (longer ones are cut, length kept) */
#define MAX_ATTRS 32

struct attr {
	const char *name, *val; /* val NULL: no value */
	size_t name_len, val_len;
};

enum { TOK_EOF, TOK_TEXT, TOK_START, TOK_END };

struct token {
	int type;
	const char *text; /* text, or a raw-text element's content */
	size_t text_len;
	int has_raw, self_closing;
	char name[NAME_CAP]; /* lower case, cut */
	size_t name_len;     /* whole length */
	const struct tag_info *info;
	struct attr attr[MAX_ATTRS];
	size_t nattr;
};

struct tokenizer {
	const char *s;
	size_t n, pos;
};

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int is_alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static unsigned char to_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int ascii_ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (to_lower((unsigned char)a[i]) !=
		    to_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Whether the '<' at @q starts markup rather than being text. */
static int markup_at(const struct tokenizer *t, size_t q)
{
	unsigned char c;

	if (q + 1 >= t->n)
		return 0;
	c = (unsigned char)t->s[q + 1];
	if (is_alpha(c) || c == '!' || c == '?')
		return 1;
	return c == '/' && q + 2 < t->n;
}

/* The position after the next @c from @i, or the end. */
static size_t past(const struct tokenizer *t, size_t i, char c)
{
	const char *r = i < t->n ? memchr(t->s + i, c, t->n - i) : NULL;

	return r ? (size_t)(r - t->s) + 1 : t->n;
}

/*
 * Reads a tag's attributes from @i up to and including its '>', storing
 * them in @tok if given; returns the position after the tag, or SIZE_MAX
 * if the input ends inside it (such a tag is dropped, as HTML does).
 */
static size_t tag_rest(const struct tokenizer *t, size_t i, struct token *tok)
{
	const char *s = t->s, *q;
	size_t n = t->n, ns, ne, vs, ve;

	for (;;) {
		while (i < n && (is_space(s[i]) || s[i] == '/')) {
			if (s[i] == '/' && i + 1 < n && s[i + 1] == '>' && tok)
				tok->self_closing = 1;
			i++;
		}
		if (i >= n)
			return SIZE_MAX;
		if (s[i] == '>')
			return i + 1;
		ns = i++;
		while (i < n && !is_space(s[i]) && s[i] != '/' && s[i] != '>' &&
		       s[i] != '=')
			i++;
		ne = i;
		while (i < n && is_space(s[i]))
			i++;
		vs = ve = SIZE_MAX;
		if (i < n && s[i] == '=') {
			i++;
			while (i < n && is_space(s[i]))
				i++;
			if (i >= n)
				return SIZE_MAX;
			if (s[i] == '"' || s[i] == '\'') {
				q = memchr(s + i + 1, s[i], n - i - 1);
				if (!q)
					return SIZE_MAX;
				vs = i + 1;
				ve = (size_t)(q - s);
				i = ve + 1;
			} else {
				vs = i;
				while (i < n && !is_space(s[i]) && s[i] != '>')
					i++;
				ve = i;
			}
		}
		if (tok && tok->nattr < MAX_ATTRS) {
			struct attr *a = &tok->attr[tok->nattr++];

			a->name = s + ns;
			a->name_len = ne - ns;
			a->val = vs == SIZE_MAX ? NULL : s + vs;
			a->val_len = vs == SIZE_MAX ? 0 : ve - vs;
		}
	}
}

/* Reads a raw-text element's content and its end tag. */
static void raw_text(struct tokenizer *t, struct token *tok, int to_end)
{
	const char *s = t->s, *r;
	size_t n = t->n, i = t->pos, e, nl = tok->name_len, end;
	unsigned char c;

	tok->has_raw = 1;
	tok->text = s + i;
	tok->text_len = n - i;
	t->pos = n;
	if (to_end)
		return;
	for (e = i; e < n; e++) {
		r = memchr(s + e, '<', n - e);
		if (!r)
			return;
		e = (size_t)(r - s);
		if (e + 2 + nl >= n || s[e + 1] != '/' ||
		    !ascii_ieq(s + e + 2, tok->name, nl))
			continue;
		c = (unsigned char)s[e + 2 + nl];
		if (!is_space(c) && c != '/' && c != '>')
			continue;
		tok->text_len = e - i;
		end = tag_rest(t, e + 2 + nl, NULL);
		t->pos = end == SIZE_MAX ? n : end;
		return;
	}
}

/* Reads a start (@end 0) or end tag whose name begins at @i. */
static int read_tag(struct tokenizer *t, size_t i, struct token *tok, int end)
{
	const char *s = t->s;
	size_t n = t->n, ns = i, e;

	while (i < n && !is_space(s[i]) && s[i] != '/' && s[i] != '>')
		i++;
	tok->name_len = i - ns;
	for (e = 0; e < tok->name_len && e < NAME_CAP - 1; e++)
		tok->name[e] = (char)to_lower((unsigned char)s[ns + e]);
	tok->name[e] = '\0';
	tok->info = NULL;
	if (tok->name_len < NAME_CAP)
		tok->info =
			bsearch(tok->name, tags, sizeof(tags) / sizeof(*tags),
				sizeof(*tags), tag_cmp);
	tok->nattr = 0;
	tok->self_closing = 0;
	tok->has_raw = 0;
	e = tag_rest(t, i, end ? NULL : tok);
	if (e == SIZE_MAX) {
		t->pos = n;
		return tok->type = TOK_EOF;
	}
	t->pos = e;
	tok->type = end ? TOK_END : TOK_START;
	if (!end && tok->info && (tok->info->flags & T_RAW))
		raw_text(t, tok, tok->info->flags & T_PLAINTEXT);
	return tok->type;
}

/* Skips "<!...": a comment, CDATA or other declaration. */
static void declaration(struct tokenizer *t, size_t p)
{
	const char *s = t->s, *r;
	size_t n = t->n, i = p + 2;

	if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
		i += 2;
		if (i < n && s[i] == '>') {
			t->pos = i + 1;
			return;
		}
		if (i + 1 < n && s[i] == '-' && s[i + 1] == '>') {
			t->pos = i + 2;
			return;
		}
		while ((r = memmem(s + i, n - i, "--", 2))) {
			i = (size_t)(r - s);
			if (i + 2 < n && s[i + 2] == '>') {
				t->pos = i + 3;
				return;
			}
			if (i + 3 < n && s[i + 2] == '!' && s[i + 3] == '>') {
				t->pos = i + 4;
				return;
			}
			i++;
		}
		t->pos = n;
		return;
	}
	if (n - i >= 7 && !memcmp(s + i, "[CDATA[", 7)) {
		r = memmem(s + i + 7, n - i - 7, "]]>", 3);
		t->pos = r ? (size_t)(r - s) + 3 : n;
		return;
	}
	t->pos = past(t, i, '>');
}

static int next_token(struct tokenizer *t, struct token *tok)
{
	const char *s = t->s, *r;
	size_t n = t->n, p, q, e;
	unsigned char c;

	for (;;) {
		p = t->pos;
		if (p >= n)
			return tok->type = TOK_EOF;
		if (s[p] == '<' && markup_at(t, p)) {
			c = (unsigned char)s[p + 1];
			if (is_alpha(c))
				return read_tag(t, p + 1, tok, 0);
			if (c == '/' && is_alpha((unsigned char)s[p + 2]))
				return read_tag(t, p + 2, tok, 1);
			if (c == '!')
				declaration(t, p);
			else if (c == '/' && s[p + 2] == '>')
				t->pos = p + 3;
			else
				t->pos = past(t, p + 2, '>');
			continue;
		}
		for (q = p + 1;; q = e + 1) {
			r = q < n ? memchr(s + q, '<', n - q) : NULL;
			e = r ? (size_t)(r - s) : n;
			if (!r || markup_at(t, e))
				break;
		}
		tok->text = s + p;
		tok->text_len = e - p;
		t->pos = e;
		return tok->type = TOK_TEXT;
	}
}

/* ---- Tree builder ------------------------------------------------------- */

/* The builder's output: a well nested stream of allowed elements. */
struct sink {
	void (*open)(struct sink *s, int etag);
	void (*close)(struct sink *s, int etag);
	void (*text)(struct sink *s, const char *t, size_t n);
	void (*brk)(struct sink *s, int etag);
	/* @src and @alt decoded; @alt "" when absent */
	void (*image)(struct sink *s, const char *src, const char *alt);
};

#define MAX_OPEN 100   /* elements open in the output (browsers cap depth) */
#define STACK_CAP 256  /* with those inside dropped content */
#define LINK_TEXT 4096 /* link text kept to compare with its URL */

struct entry {
	unsigned char etag;
	char name[NAME_CAP]; /* E_DROP: the element's name */
	size_t name_len;
};

struct builder {
	struct sink *sink;
	struct entry st[STACK_CAP];
	int depth;
	int drop_base; /* index of the dropped element, or -1 */
	int pre_skip;  /* the next text's first line feed belongs to <pre> */
	int in_link;
	char *href; /* the open link's URL to show, or NULL */
	struct sbuf ltext, scratch;
};

static void link_end(struct builder *b);

static void b_pop(struct builder *b)
{
	int e = b->st[--b->depth].etag;

	if (e == E_LINK)
		link_end(b);
	else if (e != E_DROP)
		b->sink->close(b->sink, e);
}

static void close_to(struct builder *b, int i)
{
	while (b->depth > i)
		b_pop(b);
}

/* The nearest open element in @want, if none in @stop is nearer. */
static int find(const struct builder *b, uint64_t want, uint64_t stop)
{
	for (int i = b->depth - 1; i >= 0; i--) {
		if (want & M(b->st[i].etag))
			return i;
		if (stop & M(b->st[i].etag))
			return -1;
	}
	return -1;
}

/* The current element as a browser sees it: links being read are not. */
static int top_index(const struct builder *b)
{
	int i = b->depth - 1;

	while (i >= 0 && b->st[i].etag == E_LINK)
		i--;
	return i;
}

static int top(const struct builder *b)
{
	int i = top_index(b);

	return i >= 0 ? b->st[i].etag : E_NONE;
}

static int push(struct builder *b, int e)
{
	/* A table, section or row opens only with room for the row and cell
	 * that text in it needs. */
	int need = (M(E_TABLE) | M_SECTIONS) & M(e) ? 3 : e == E_TR ? 2 : 1;

	/* One level is kept for an image's link. */
	if (b->depth + need > MAX_OPEN - 1)
		return -1;
	b->st[b->depth].etag = (unsigned char)e;
	b->st[b->depth].name_len = 0;
	b->depth++;
	if (e != E_LINK)
		b->sink->open(b->sink, e);
	return 0;
}

static int push_drop(struct builder *b, const struct token *tok)
{
	struct entry *en;

	if (b->depth >= STACK_CAP)
		return -1;
	en = &b->st[b->depth++];
	en->etag = E_DROP;
	memcpy(en->name, tok->name, sizeof(en->name));
	en->name_len = tok->name_len;
	return 0;
}

/* Opens a row and a cell where a table holds text or an element. */
static void ensure_cell(struct builder *b)
{
	if (!(M_TABLECTX & M(top(b))))
		return;
	if (top(b) != E_TR && push(b, E_TR))
		return;
	push(b, E_TD);
}

static void close_p(struct builder *b)
{
	int i = find(b, M(E_P), M_SCOPE);

	if (i >= 0)
		close_to(b, i);
}

static int all_space(const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space((unsigned char)t[i]))
			return 0;
	return 1;
}

/* Passes clean text on. */
static void b_emit_text(struct builder *b, const char *t, size_t n)
{
	if (!n)
		return;
	if (M_TABLECTX & M(top(b))) {
		if (all_space(t, n))
			return;
		ensure_cell(b);
	}
	if (b->in_link && b->ltext.len <= LINK_TEXT)
		sbuf_add(&b->ltext, t, n);
	b->sink->text(b->sink, t, n);
}

static void b_text(struct builder *b, const char *s, size_t n, int refs,
		   int skip_lf)
{
	const char *t;
	size_t len;

	if (b->drop_base >= 0)
		return;
	sbuf_cut(&b->scratch, 0);
	if (refs)
		decode(&b->scratch, s, n, 0);
	else
		add_clean(&b->scratch, s, n);
	t = sbuf_str(&b->scratch);
	len = b->scratch.oom ? 0 : b->scratch.len;
	if (skip_lf && len && t[0] == '\n') {
		t++;
		len--;
	}
	b_emit_text(b, t, len);
}

static const struct attr *find_attr(const struct token *tok, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < tok->nattr; i++)
		if (tok->attr[i].name_len == n &&
		    ascii_ieq(tok->attr[i].name, name, n))
			return &tok->attr[i];
	return NULL;
}

/* Decodes attribute @name into @dst; returns whether the tag has it. */
static int attr_value(const struct token *tok, const char *name,
		      struct sbuf *dst)
{
	const struct attr *a = find_attr(tok, name);

	if (!a)
		return 0;
	sbuf_add(dst, "", 0);
	decode(dst, a->val ? a->val : "", a->val_len, 1);
	return !dst->oom;
}

/* Collapses white space to single spaces, none at either end. */
static void collapse_space(struct sbuf *b)
{
	size_t i, o = 0;
	int space = 0;

	for (i = 0; i < b->len; i++) {
		if (is_space((unsigned char)b->data[i])) {
			space = o > 0;
			continue;
		}
		if (space)
			b->data[o++] = ' ';
		space = 0;
		b->data[o++] = b->data[i];
	}
	sbuf_cut(b, o);
}

/* A URL as a browser takes it: ends trimmed, tabs and line feeds gone. */
static void url_clean(struct sbuf *b)
{
	size_t i, o = 0, start = 0;

	for (i = 0; i < b->len; i++)
		if (b->data[i] != '\t' && b->data[i] != '\n')
			b->data[o++] = b->data[i];
	while (o && b->data[o - 1] == ' ')
		o--;
	sbuf_cut(b, o);
	while (start < b->len && b->data[start] == ' ')
		start++;
	if (start) {
		memmove(b->data, b->data + start, b->len - start);
		sbuf_cut(b, b->len - start);
	}
}

/* The length of @url's scheme with its ':', 0 if it has none. */
static size_t scheme_len(const char *url)
{
	size_t i = strcspn(url, ":/?#");

	return url[i] == ':' ? i + 1 : 0;
}

/* Whether a link's URL may be shown as text: a web or mail-like scheme. */
static int url_shown(const char *url)
{
	static const char *const ok[] = {
		"http:", "https:", "mailto:", "tel:",	 "ftp:",
		"sip:",	 "sips:",  "callto:", "msteams:"};
	size_t n = scheme_len(url);

	if (!*url)
		return 0;
	if (!n)
		return 1;
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++)
		if (strlen(ok[i]) == n && ascii_ieq(url, ok[i], n))
			return 1;
	return 0;
}

/* @s without a leading "mailto:", "tel:", "http://", "https://". */
static const char *strip_scheme(const char *s, size_t *n)
{
	static const char *const pre[] = {"mailto:", "tel:", "http://",
					  "https://"};

	for (size_t i = 0; i < sizeof(pre) / sizeof(*pre); i++) {
		size_t k = strlen(pre[i]);

		if (*n >= k && ascii_ieq(s, pre[i], k)) {
			*n -= k;
			return s + k;
		}
	}
	return s;
}

/* Whether a link's text already says its URL. */
static int says_url(const char *url, const char *text, size_t tn)
{
	size_t un = strlen(url);

	while (tn && is_space((unsigned char)*text)) {
		text++;
		tn--;
	}
	while (tn && is_space((unsigned char)text[tn - 1]))
		tn--;
	url = strip_scheme(url, &un);
	text = strip_scheme(text, &tn);
	if (un && url[un - 1] == '/')
		un--;
	if (tn && text[tn - 1] == '/')
		tn--;
	return un == tn && !memcmp(url, text, un);
}

static void link_end(struct builder *b)
{
	struct sbuf t = {0};

	b->in_link = 0;
	if (b->href &&
	    (b->ltext.len > LINK_TEXT ||
	     !says_url(b->href, sbuf_str(&b->ltext), b->ltext.len))) {
		sbuf_adds(&t, " (");
		sbuf_adds(&t, b->href);
		sbuf_adds(&t, ")");
		if (!t.oom)
			b->sink->text(b->sink, t.data, t.len);
		sbuf_free(&t);
	}
	free(b->href);
	b->href = NULL;
}

static void b_link(struct builder *b, const struct token *tok)
{
	struct sbuf href = {0};
	int i;

	if (!attr_value(tok, "href", &href)) {
		sbuf_free(&href);
		return;
	}
	if (b->in_link && (i = find(b, M(E_LINK), 0)) >= 0)
		close_to(b, i);
	ensure_cell(b);
	if (push(b, E_LINK)) {
		sbuf_free(&href);
		return;
	}
	url_clean(&href);
	b->in_link = 1;
	sbuf_cut(&b->ltext, 0);
	if (url_shown(sbuf_str(&href))) {
		b->href = href.data;
		return;
	}
	sbuf_free(&href);
}

static int ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && ascii_ieq(s + n - k, suffix, k);
}

static void b_image(struct builder *b, const struct token *tok)
{
	struct sbuf src = {0}, alt = {0}, type = {0};

	attr_value(tok, "src", &src);
	url_clean(&src);
	attr_value(tok, "alt", &alt);
	collapse_space(&alt);
	/* Teams' emoji are images of a character: the character will do. */
	if (alt.len && attr_value(tok, "itemtype", &type) &&
	    ends_with_ci(sbuf_str(&type), "schema.skype.com/Emoji")) {
		b_emit_text(b, alt.data, alt.len);
	} else {
		/* Teams labels pasted pictures "image": say nothing then. */
		if (!strcmp(sbuf_str(&alt), "image") ||
		    !strcmp(sbuf_str(&alt), "Image"))
			sbuf_cut(&alt, 0);
		ensure_cell(b);
		b->sink->image(b->sink, sbuf_str(&src), sbuf_str(&alt));
	}
	sbuf_free(&src);
	sbuf_free(&alt);
	sbuf_free(&type);
}

static void b_elem(struct builder *b, int e)
{
	int i;

	switch (e) {
	case E_THEAD:
	case E_TBODY:
	case E_TFOOT:
		if ((i = find(b, M(E_TABLE), 0)) < 0)
			return;
		close_to(b, i + 1);
		push(b, e);
		return;
	case E_TR:
		if ((i = find(b, M(E_TABLE) | M_SECTIONS, 0)) < 0)
			return;
		close_to(b, i + 1);
		push(b, e);
		return;
	case E_TD:
	case E_TH:
		if ((i = find(b, M(E_TABLE) | M_SECTIONS | M(E_TR), 0)) < 0)
			return;
		close_to(b, i + 1);
		if (b->st[i].etag != E_TR && push(b, E_TR))
			return;
		push(b, e);
		return;
	}
	ensure_cell(b);
	if (M_BLOCK & M(e)) {
		if (e == E_LI && (i = find(b, M(E_LI), M_LI_STOP)) >= 0)
			close_to(b, i);
		/* A browser looks for an <li> to close up to a list: one must
		 * be open here, or it would look in the page around. */
		if (e == E_LI && find(b, M_LI_STOP, 0) < 0) {
			b_elem(b, E_UL);
			if (top(b) != E_UL)
				return;
		}
		close_p(b);
		if ((M_HEADINGS & M(e)) && (M_HEADINGS & M(top(b))))
			close_to(b, top_index(b));
	}
	if (e == E_BR || e == E_HR) {
		b->sink->brk(b->sink, e);
		return;
	}
	if (!push(b, e) && e == E_PRE)
		b->pre_skip = 1;
}

static int is_foreign_root(const struct entry *en)
{
	return (en->name_len == 3 && !memcmp(en->name, "svg", 3)) ||
	       (en->name_len == 4 && !memcmp(en->name, "math", 4));
}

/* Whether a start tag inside <svg> or <math> takes a browser back to HTML */
static int breaks_out(const struct token *tok)
{
	if (tok->info && (tok->info->flags & T_BREAKOUT))
		return 1;
	return tok->name_len == 4 && !memcmp(tok->name, "font", 4) &&
	       (find_attr(tok, "color") || find_attr(tok, "face") ||
		find_attr(tok, "size"));
}

static void b_start(struct builder *b, const struct token *tok)
{
	const struct tag_info *info = tok->info;
	int kind = info ? info->kind : K_UNKNOWN;
	struct sbuf alt = {0};

	if (b->drop_base >= 0) {
		if (is_foreign_root(&b->st[b->drop_base]) && breaks_out(tok)) {
			b->depth = b->drop_base;
			b->drop_base = -1;
		} else {
			if (!(info && (info->flags & T_VOID)) &&
			    !tok->self_closing && !tok->has_raw)
				push_drop(b, tok);
			return;
		}
	}
	switch (kind) {
	case K_ELEM:
		b_elem(b, info->etag);
		break;
	case K_DROP:
		if (tok->has_raw ||
		    (tok->self_closing &&
		     (!strcmp(tok->name, "svg") || !strcmp(tok->name, "math"))))
			break;
		if (!push_drop(b, tok))
			b->drop_base = b->depth - 1;
		break;
	case K_SHOWRAW:
		ensure_cell(b);
		close_p(b);
		if (!push(b, E_PRE)) {
			b_text(b, tok->text, tok->text_len, 0, 0);
			close_to(b, b->depth - 1);
		}
		break;
	case K_A:
		b_link(b, tok);
		break;
	case K_IMG:
		b_image(b, tok);
		break;
	case K_AT:
		ensure_cell(b);
		if (!push(b, E_MENTION))
			b_emit_text(b, "@", 1);
		break;
	case K_EMOJI:
		if (attr_value(tok, "alt", &alt)) {
			collapse_space(&alt);
			b_emit_text(b, sbuf_str(&alt), alt.len);
		}
		sbuf_free(&alt);
		break;
	}
}

static void b_end(struct builder *b, const struct token *tok)
{
	const struct tag_info *info = tok->info;
	uint64_t want, stop = M_SCOPE;
	int i, e;

	if (b->drop_base >= 0) {
		for (i = b->depth - 1; i >= b->drop_base; i--) {
			const struct entry *en = &b->st[i];

			if (en->name_len == tok->name_len &&
			    !strcmp(en->name, tok->name)) {
				b->depth = i;
				if (i == b->drop_base)
					b->drop_base = -1;
				return;
			}
		}
		return;
	}
	if (!info)
		return;
	if (info->kind == K_A)
		want = M(E_LINK);
	else if (info->kind == K_AT)
		want = M(E_MENTION);
	else if (info->kind != K_ELEM)
		return;
	else {
		e = info->etag;
		want = M(e);
		if (e == E_BR) {
			/* As browsers do, </br> is a <br>. */
			ensure_cell(b);
			b->sink->brk(b->sink, E_BR);
			return;
		}
		if (M_HEADINGS & M(e))
			want = M_HEADINGS;
		else if (e == E_LI)
			stop |= M(E_UL) | M(E_OL);
		else if (M(e) & (M_TABLECTX | M(E_TD) | M(E_TH)))
			stop = e == E_TABLE ? 0 : M(E_TABLE);
	}
	if ((i = find(b, want, stop)) >= 0)
		close_to(b, i);
}

static void build(struct sink *sink, const char *in, size_t len,
		  struct sbuf *out)
{
	struct builder *b = calloc(1, sizeof(*b));
	struct tokenizer t = {in ? in : "", in ? len : 0, 0};
	struct token *tok = malloc(sizeof(*tok));
	int skip;

	if (!b || !tok) {
		free(b);
		free(tok);
		out->oom = 1;
		return;
	}
	b->sink = sink;
	b->drop_base = -1;
	while (next_token(&t, tok) != TOK_EOF) {
		skip = b->pre_skip;
		b->pre_skip = 0;
		if (tok->type == TOK_TEXT)
			b_text(b, tok->text, tok->text_len, 1, skip);
		else if (tok->type == TOK_START)
			b_start(b, tok);
		else
			b_end(b, tok);
	}
	if (b->drop_base >= 0)
		b->depth = b->drop_base;
	close_to(b, 0);
	free(b->href);
	sbuf_free(&b->ltext);
	sbuf_free(&b->scratch);
	free(b);
	free(tok);
}

/* ---- HTML writer -------------------------------------------------------- */

struct html_sink {
	struct sink base;
	struct sbuf *out;
	html_image_fn image;
	void *ctx;
	int pre_open; /* just wrote <pre> */
};

static void hs_open(struct sink *s, int e)
{
	struct html_sink *h = (struct html_sink *)s;

	if (e == E_MENTION)
		sbuf_adds(h->out, "<span class=\"mention\">");
	else
		sbuf_addf(h->out, "<%s>", etag_names[e]);
	h->pre_open = e == E_PRE;
}

static void hs_close(struct sink *s, int e)
{
	struct html_sink *h = (struct html_sink *)s;

	sbuf_addf(h->out, "</%s>", etag_names[e]);
	h->pre_open = 0;
}

static void hs_text(struct sink *s, const char *t, size_t n)
{
	struct html_sink *h = (struct html_sink *)s;

	/* A browser drops a line feed right after <pre>: give it one. */
	if (h->pre_open && n && t[0] == '\n')
		sbuf_add(h->out, "\n", 1);
	h->pre_open = 0;
	sbuf_add_escaped(h->out, t, n);
}

static void hs_brk(struct sink *s, int e)
{
	struct html_sink *h = (struct html_sink *)s;

	sbuf_addf(h->out, "<%s>", etag_names[e]);
	h->pre_open = 0;
}

/*
 * Whether the image callback's answer is a relative URL that stays in the
 * mount: not empty, no scheme, no leading '/' or '\', no white space,
 * controls or '\' anywhere.
 */
static int relative_url(const char *r)
{
	if (!*r || *r == '/' || scheme_len(r))
		return 0;
	for (const unsigned char *p = (const unsigned char *)r; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	return 1;
}

static int hex_value(unsigned char c)
{
	return digit_value(c, 1);
}

/* The file name at the end of relative URL @r, percent-decoded. */
static void url_file_name(struct sbuf *dst, const char *r)
{
	size_t end = strcspn(r, "?#"), start = end;

	while (start && r[start - 1] != '/')
		start--;
	for (size_t i = start; i < end; i++) {
		if (r[i] == '%' && i + 2 < end && hex_value(r[i + 1]) >= 0 &&
		    hex_value(r[i + 2]) >= 0) {
			char c = (char)(hex_value(r[i + 1]) << 4 |
					hex_value(r[i + 2]));

			sbuf_add(dst, &c, 1);
			i += 2;
		} else {
			sbuf_add(dst, r + i, 1);
		}
	}
}

static void hs_image(struct sink *s, const char *src, const char *alt)
{
	struct html_sink *h = (struct html_sink *)s;
	char *r = h->image && *src ? h->image(h->ctx, src) : NULL;
	struct sbuf label = {0};

	h->pre_open = 0;
	if (r && relative_url(r)) {
		if (*alt)
			sbuf_adds(&label, alt);
		else
			url_file_name(&label, r);
		sbuf_adds(h->out, "<a class=\"image\" href=\"");
		sbuf_add_escaped(h->out, r, strlen(r));
		sbuf_adds(h->out, "\">[image");
		if (label.len) {
			sbuf_adds(h->out, ": ");
			sbuf_add_escaped(h->out, label.data, label.len);
		}
		sbuf_adds(h->out, "]</a>");
	} else {
		sbuf_adds(h->out, "[image");
		if (*alt) {
			sbuf_adds(h->out, ": ");
			sbuf_add_escaped(h->out, alt, strlen(alt));
		}
		sbuf_adds(h->out, "]");
	}
	sbuf_free(&label);
	free(r);
}

void html_sanitize(const char *in, size_t len, html_image_fn image, void *ctx,
		   struct sbuf *out)
{
	struct html_sink h = {{hs_open, hs_close, hs_text, hs_brk, hs_image},
			      out,
			      image,
			      ctx,
			      0};

	build(&h.base, in, len, out);
}

/* ---- Text writer -------------------------------------------------------- */

enum { C_OTHER, C_QUOTE, C_ULIST, C_OLIST, C_ITEM, C_PRE, C_ROW, C_CELL };

#define PREFIX_LEVELS 10 /* quotes and list items that indent text */
#define MIN_COLUMNS 10	 /* text columns left however deep the nesting */
#define TAB_STOP 8

struct tcont {
	unsigned char type, used, mlen;
	char marker[16];
	unsigned count;
};

struct tw {
	struct sink base;
	struct sbuf *out;
	const char *indent;
	size_t indent_len, indent_cols;
	unsigned width;
	int preserve; /* text_wrap(): runs of spaces kept */
	struct sbuf line, word, blank;
	size_t line_cols, word_cols;
	size_t pending; /* spaces owed before the next word */
	int touched;	/* the line had a word, if only spaces */
	int cont;	/* the line continues a wrapped one */
	int blank_owed; /* a blank line (in blank) comes before the next */
	int any;	/* a line was written */
	int prefix_dirty;
	size_t prefix_cols;
	struct tcont st[STACK_CAP];
	int depth, pre, cell;
};

static size_t count_cols(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/*
 * Appends the prefix of a line (quote marks and list indents) to @b if
 * given and returns its width.  @mode: 0 measure, 1 a text line (an item's
 * marker written once), 2 a blank line (no markers).
 */
static size_t tw_prefix(struct tw *w, struct sbuf *b, int mode)
{
	size_t cols = 0;
	int levels = 0;

	for (int i = 0; i < w->depth && levels < PREFIX_LEVELS; i++) {
		struct tcont *c = &w->st[i];

		if (c->type == C_CELL)
			break;
		if (c->type == C_QUOTE) {
			if (b)
				sbuf_add(b, "> ", 2);
			cols += 2;
			levels++;
		} else if (c->type == C_ITEM) {
			if (b && mode == 1 && !c->used)
				sbuf_add(b, c->marker, c->mlen);
			else if (b)
				sbuf_addf(b, "%*s", c->mlen, "");
			if (mode == 1)
				c->used = 1;
			cols += c->mlen;
			levels++;
		}
	}
	return cols;
}

static size_t tw_avail(struct tw *w)
{
	size_t room, a, floor;

	if (!w->width)
		return SIZE_MAX;
	if (w->prefix_dirty) {
		w->prefix_cols = tw_prefix(w, NULL, 0);
		w->prefix_dirty = 0;
	}
	room = w->width > w->indent_cols ? w->width - w->indent_cols : 1;
	a = room > w->prefix_cols ? room - w->prefix_cols : 0;
	floor = room < MIN_COLUMNS ? room : MIN_COLUMNS;
	return a < floor ? floor : a;
}

/* Ends the current line; @forced (a line break) keeps an empty one. */
static void tw_flush(struct tw *w, int forced)
{
	size_t mark;

	while (w->line.len && w->line.data[w->line.len - 1] == ' ') {
		w->line.len--;
		w->line_cols--;
	}
	if (w->line.len) {
		if (w->blank_owed)
			sbuf_add(w->out, w->blank.data, w->blank.len);
		w->blank_owed = 0;
		sbuf_add(w->out, w->indent, w->indent_len);
		tw_prefix(w, w->out, 1);
		sbuf_add(w->out, w->line.data, w->line.len);
		sbuf_add(w->out, "\n", 1);
		w->any = 1;
	} else if ((forced || w->touched) && w->any) {
		sbuf_cut(&w->blank, 0);
		sbuf_add(&w->blank, w->indent, w->indent_len);
		mark = w->blank.len;
		tw_prefix(w, &w->blank, 2);
		while (w->blank.len > mark &&
		       w->blank.data[w->blank.len - 1] == ' ')
			w->blank.len--;
		sbuf_add(&w->blank, "\n", 1);
		w->blank_owed = !w->blank.oom;
	}
	sbuf_cut(&w->line, 0);
	w->line_cols = 0;
	w->touched = 0;
	w->cont = 0;
}

static void tw_wrap(struct tw *w)
{
	tw_flush(w, 0);
	w->cont = 1;
}

/* Bytes of the first @cols characters of @s. */
static size_t cols_bytes(const char *s, size_t n, size_t cols)
{
	size_t i = 0;

	while (i < n) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (!cols)
				break;
			cols--;
		}
		i++;
	}
	return i;
}

/* Puts the word being read on the line, wrapping before it if needed. */
static void tw_commit(struct tw *w)
{
	size_t a, sep, off = 0, left = w->word_cols, k;

	if (!w->word.len)
		return;
	a = tw_avail(w);
	sep = w->preserve ? w->pending : w->pending != 0;
	if (!w->line_cols && (!w->preserve || w->cont))
		sep = 0;
	if (w->line_cols + sep + left > a) {
		if (w->line_cols) {
			tw_wrap(w);
			sep = 0;
		} else if (sep + left > a) {
			sep = 0;
		}
		while (left > a) {
			k = cols_bytes(w->word.data + off, w->word.len - off,
				       a);
			sbuf_add(&w->line, w->word.data + off, k);
			w->line_cols += a;
			off += k;
			left -= a;
			tw_wrap(w);
		}
	}
	w->line_cols += sep + left;
	for (; sep; sep--)
		sbuf_add(&w->line, " ", 1);
	sbuf_add(&w->line, w->word.data + off, w->word.len - off);
	w->touched = 1;
	w->pending = 0;
	sbuf_cut(&w->word, 0);
	w->word_cols = 0;
}

/* Ends a line where a block begins or ends (in a table cell: a space). */
static void tw_boundary(struct tw *w)
{
	tw_commit(w);
	if (w->cell) {
		w->pending = 1;
		return;
	}
	tw_flush(w, 0);
	w->pending = 0;
}

static void tw_word(struct tw *w, const char *s)
{
	sbuf_adds(&w->word, s);
	w->word_cols += count_cols(s, strlen(s));
}

/* One character of preformatted text. */
static void tw_pre_char(struct tw *w, uint32_t cp)
{
	if (w->line_cols >= tw_avail(w))
		tw_wrap(w);
	put_cp(&w->line, cp);
	w->line_cols++;
	w->touched = 1;
}

static void tw_chars(struct tw *w, const char *t, size_t n)
{
	const unsigned char *u = (const unsigned char *)t;
	uint32_t cp;
	size_t k;

	for (size_t i = 0; i < n; i += k) {
		k = utf8_next(u + i, n - i, &cp);
		cp = clean_cp(cp);
		if (cp == 0xad)
			continue;
		if (w->pre && !w->cell) {
			if (cp == '\n') {
				tw_flush(w, 1);
			} else if (cp == '\t') {
				do
					tw_pre_char(w, ' ');
				while (w->line_cols % TAB_STOP);
			} else {
				tw_pre_char(w, cp == 0xa0 ? ' ' : cp);
			}
			continue;
		}
		if (cp == '\n' && w->preserve) {
			tw_commit(w);
			tw_flush(w, 1);
			w->pending = 0;
		} else if (cp == '\t' && w->preserve) {
			tw_commit(w);
			w->pending += TAB_STOP -
				      (w->line_cols + w->pending) % TAB_STOP;
		} else if (is_space((unsigned char)cp) && cp < 0x80) {
			tw_commit(w);
			w->pending += w->preserve ? 1 : !w->pending;
		} else {
			/* A no-break space is part of a word. */
			put_cp(&w->word, cp == 0xa0 ? ' ' : cp);
			w->word_cols++;
		}
	}
}

static void tw_text(struct sink *s, const char *t, size_t n)
{
	tw_chars((struct tw *)s, t, n);
}

static void tw_open(struct sink *s, int e)
{
	struct tw *w = (struct tw *)s;
	struct tcont c = {C_OTHER, 0, 0, "", 0};
	struct tcont *up;

	if (e == E_TD || e == E_TH) {
		up = w->depth ? &w->st[w->depth - 1] : NULL;
		if (up && up->type == C_ROW && up->count++ > 0) {
			tw_commit(w);
			w->pending = 1;
			tw_word(w, "|");
			tw_commit(w);
			w->pending = 1;
		}
		c.type = C_CELL;
		w->cell++;
	} else if (M_LINE & M(e)) {
		tw_boundary(w);
		if (e == E_BLOCKQUOTE) {
			c.type = C_QUOTE;
		} else if (e == E_UL || e == E_OL) {
			c.type = e == E_UL ? C_ULIST : C_OLIST;
		} else if (e == E_LI) {
			c.type = C_ITEM;
			strcpy(c.marker, "- ");
			for (int i = w->depth - 1; i >= 0; i--) {
				up = &w->st[i];
				if (up->type != C_ULIST && up->type != C_OLIST)
					continue;
				if (up->type == C_OLIST)
					snprintf(c.marker, sizeof(c.marker),
						 "%u. ", ++up->count);
				break;
			}
			c.mlen = (unsigned char)strlen(c.marker);
		} else if (e == E_PRE) {
			c.type = C_PRE;
			w->pre++;
		} else if (e == E_TR) {
			c.type = C_ROW;
		}
	}
	if (w->depth < STACK_CAP)
		w->st[w->depth++] = c;
	w->prefix_dirty = 1;
}

static void tw_close(struct sink *s, int e)
{
	struct tw *w = (struct tw *)s;
	struct tcont *c;

	if (!w->depth)
		return;
	c = &w->st[w->depth - 1];
	if (c->type == C_CELL)
		w->cell--;
	else if (M_LINE & M(e))
		tw_boundary(w);
	if (c->type == C_PRE)
		w->pre--;
	w->depth--;
	w->prefix_dirty = 1;
}

static void tw_brk(struct sink *s, int e)
{
	struct tw *w = (struct tw *)s;

	if (w->cell) {
		tw_commit(w);
		w->pending = 1;
		return;
	}
	if (e == E_BR) {
		tw_commit(w);
		tw_flush(w, 1);
		w->pending = 0;
		return;
	}
	tw_boundary(w);
	tw_word(w, "---");
	tw_boundary(w);
}

static void tw_image(struct sink *s, const char *src, const char *alt)
{
	struct tw *w = (struct tw *)s;

	(void)src;
	tw_chars(w, "[image", 6);
	if (*alt) {
		tw_chars(w, ": ", 2);
		tw_chars(w, alt, strlen(alt));
	}
	tw_chars(w, "]", 1);
}

static struct tw *tw_new(struct sbuf *out, const char *indent, unsigned width,
			 int preserve)
{
	struct tw *w = calloc(1, sizeof(*w));

	if (!w) {
		out->oom = 1;
		return NULL;
	}
	w->base = (struct sink){tw_open, tw_close, tw_text, tw_brk, tw_image};
	w->out = out;
	w->indent = indent ? indent : "";
	w->indent_len = strlen(w->indent);
	w->indent_cols = count_cols(w->indent, w->indent_len);
	w->width = width;
	w->preserve = preserve;
	w->prefix_dirty = 1;
	return w;
}

static void tw_done(struct tw *w)
{
	tw_commit(w);
	tw_flush(w, 0);
	sbuf_free(&w->line);
	sbuf_free(&w->word);
	sbuf_free(&w->blank);
	free(w);
}

void html_to_text(const char *in, size_t len, const char *indent,
		  unsigned width, struct sbuf *out)
{
	struct tw *w = tw_new(out, indent, width, 0);

	if (!w)
		return;
	build(&w->base, in, len, out);
	tw_done(w);
}

void text_wrap(const char *in, size_t len, const char *indent, unsigned width,
	       struct sbuf *out)
{
	struct tw *w = tw_new(out, indent, width, 1);
	struct sbuf clean = {0};

	if (!w)
		return;
	add_clean(&clean, in ? in : "", in ? len : 0);
	tw_chars(w, sbuf_str(&clean), clean.oom ? 0 : clean.len);
	sbuf_free(&clean);
	tw_done(w);
}
