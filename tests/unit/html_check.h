/*
 * html_check.h - what html.c's output must be, checked without html.c's
 * code: used by the unit test and the fuzz target.
 *
 * A sanitised fragment is strict: only the allowed tags, written exactly as
 * html.c writes them (no attributes but class="mention" on a span and
 * class="image" href="relative URL" on an a), well nested, text with only
 * the five entities html.c writes, and in the shape a browser keeps as is
 * (nothing a browser would close or move on its own), so that its end tags
 * cannot close an element of the page around it.
 */
#ifndef TEAMSFS_HTML_CHECK_H
#define TEAMSFS_HTML_CHECK_H

#include <stddef.h>
#include <string.h>

/* Whether @s is UTF-8 without controls but tab, line feed (and CR if
 * @cr_ok), DEL or C1 controls. */
static int hc_utf8_ok(const char *str, size_t n, int cr_ok)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len, k;
	unsigned long cp;

	while (i < n) {
		if (s[i] < 0x80) {
			if ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' &&
			     !(cr_ok && s[i] == '\r')) ||
			    s[i] == 0x7f)
				return 0;
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = s[i] & 0x07;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp < 0xe000) || (cp >= 0x80 && cp < 0xa0))
			return 0;
		i += len;
	}
	return 1;
}

static const char *const hc_tags[] = {
	"p",	 "br",	"div",	      "span", "b",   "strong", "i",	"em",
	"u",	 "s",	"strike",     "del",  "ins", "sub",    "sup",	"small",
	"code",	 "pre", "blockquote", "ul",   "ol",  "li",     "h1",	"h2",
	"h3",	 "h4",	"h5",	      "h6",   "hr",  "table",  "thead", "tbody",
	"tfoot", "tr",	"td",	      "th",   "a",
};

static int hc_in(const char *name, const char *list)
{
	size_t n = strlen(name);
	const char *p = list;

	if (!n)
		return 0;
	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

#define HC_TABLECTX "table thead tbody tfoot tr"
#define HC_BLOCK "p div pre blockquote ul ol li h1 h2 h3 h4 h5 h6 hr table"
#define HC_HEADINGS "h1 h2 h3 h4 h5 h6"
#define HC_LI_STOP                                                             \
	"blockquote ol ul pre h1 h2 h3 h4 h5 h6 " HC_TABLECTX " td th"

struct hc {
	char stack[128][12];
	int depth;
};

static const char *hc_top(const struct hc *h)
{
	return h->depth ? h->stack[h->depth - 1] : "";
}

/* Whether an open @name is reached from the top before one in @stop. */
static int hc_open_in(const struct hc *h, const char *name, const char *stop)
{
	for (int i = h->depth - 1; i >= 0; i--) {
		if (!strcmp(h->stack[i], name))
			return 1;
		if (hc_in(h->stack[i], stop))
			return 0;
	}
	return 0;
}

/* Whether any element in @list is open. */
static int hc_open_any(const struct hc *h, const char *list)
{
	for (int i = 0; i < h->depth; i++)
		if (hc_in(h->stack[i], list))
			return 1;
	return 0;
}

/* What a browser would do itself on meeting start tag @name here. */
static const char *hc_start_fault(const struct hc *h, const char *name)
{
	const char *top = hc_top(h);

	if (!strcmp(name, "td") || !strcmp(name, "th"))
		return strcmp(top, "tr") ? "cell outside a row" : NULL;
	if (!strcmp(name, "tr"))
		return hc_in(top, "table thead tbody tfoot") ? NULL
							     : "row misplaced";
	if (hc_in(name, "thead tbody tfoot"))
		return strcmp(top, "table") ? "table section misplaced" : NULL;
	if (hc_in(top, HC_TABLECTX))
		return "element directly in a table";
	if (hc_in(name, HC_BLOCK) && hc_open_in(h, "p", "table td th"))
		return "block inside an open p";
	if (!strcmp(name, "li") && hc_open_in(h, "li", HC_LI_STOP))
		return "li a browser would close";
	/* The search for an <li> to close would leave the fragment. */
	if (!strcmp(name, "li") && !hc_open_any(h, HC_LI_STOP))
		return "li with no list open";
	if (hc_in(name, HC_HEADINGS) && hc_in(top, HC_HEADINGS))
		return "heading in a heading";
	if (!strcmp(name, "a") && hc_open_in(h, "a", ""))
		return "link in a link";
	return NULL;
}

/* Decodes the five entities html.c writes; NULL if something else. */
static const char *hc_unescape(const char *s, size_t n, char *out, size_t cap)
{
	static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;",
					  "&#39;"};
	static const char chars[] = "&<>\"'";
	size_t o = 0, i = 0, k;

	while (i < n) {
		if (o + 1 >= cap)
			return NULL;
		if (s[i] != '&') {
			out[o++] = s[i++];
			continue;
		}
		for (k = 0; k < 5; k++)
			if (n - i >= strlen(ent[k]) &&
			    !memcmp(s + i, ent[k], strlen(ent[k])))
				break;
		if (k == 5)
			return NULL;
		out[o++] = chars[k];
		i += strlen(ent[k]);
	}
	out[o] = '\0';
	return out;
}

/* Whether @r is a relative URL html.c may link to. */
static int hc_relative(const char *r)
{
	size_t i = strcspn(r, ":/?#");

	if (!*r || r[0] == '/' || r[i] == ':')
		return 0;
	for (; *r; r++)
		if ((unsigned char)*r <= 0x20 || *r == 0x7f || *r == '\\')
			return 0;
	return 1;
}

/* NULL if @s is a sanitised fragment as html.c must write; else why not. */
static const char *check_sanitized(const char *s, size_t n)
{
	static const char mention[] = " class=\"mention\">";
	static const char image[] = " class=\"image\" href=\"";
	static char url[4096];
	struct hc h = {.depth = 0};
	char name[12];
	const char *why, *q;
	size_t i = 0, k, end;
	int closing;

	if (!hc_utf8_ok(s, n, 1))
		return "not UTF-8 or has controls";
	while (i < n) {
		if (s[i] == '>' || s[i] == '"' || s[i] == '\'')
			return "unescaped > or quote in text";
		if (s[i] == '&') {
			q = memchr(s + i, ';', n - i < 8 ? n - i : 8);
			if (!q || !hc_unescape(s + i, (size_t)(q - s) - i + 1,
					       name, sizeof(name)))
				return "unknown entity";
			i = (size_t)(q - s) + 1;
			continue;
		}
		if (s[i] != '<') {
			if (hc_in(hc_top(&h), HC_TABLECTX) &&
			    !strchr(" \t\n\r", s[i]))
				return "text directly in a table";
			i++;
			continue;
		}
		closing = i + 1 < n && s[i + 1] == '/';
		i += 1 + closing;
		for (k = 0; i < n && k < sizeof(name) - 1 &&
			    ((s[i] >= 'a' && s[i] <= 'z') ||
			     (s[i] >= '0' && s[i] <= '9'));
		     k++)
			name[k] = s[i++];
		name[k] = '\0';
		for (k = 0; k < sizeof(hc_tags) / sizeof(*hc_tags); k++)
			if (!strcmp(name, hc_tags[k]))
				break;
		if (k == sizeof(hc_tags) / sizeof(*hc_tags))
			return "tag not allowed";
		if (closing) {
			if (i >= n || s[i] != '>')
				return "end tag with more than a name";
			if (!h.depth || strcmp(hc_top(&h), name))
				return "end tag that does not match";
			h.depth--;
			i++;
			continue;
		}
		if ((why = hc_start_fault(&h, name)))
			return why;
		if (!strcmp(name, "span") && n - i >= strlen(mention) &&
		    !memcmp(s + i, mention, strlen(mention))) {
			i += strlen(mention);
		} else if (!strcmp(name, "a")) {
			if (n - i < strlen(image) ||
			    memcmp(s + i, image, strlen(image)))
				return "a without the image link's attributes";
			i += strlen(image);
			q = memchr(s + i, '"', n - i);
			if (!q || q + 1 >= s + n || q[1] != '>')
				return "image link's href not closed";
			end = (size_t)(q - s);
			if (memchr(s + i, '<', end - i) ||
			    memchr(s + i, '>', end - i) ||
			    memchr(s + i, '\'', end - i) ||
			    !hc_unescape(s + i, end - i, url, sizeof(url)) ||
			    !hc_relative(url))
				return "image link to a URL that is not "
				       "relative";
			i = end + 2;
			if (n - i < 6 || memcmp(s + i, "[image", 6))
				return "image link without its label";
			q = memchr(s + i, '<', n - i);
			if (!q || n - (size_t)(q - s) < 4 ||
			    memcmp(q, "</a>", 4) || q[-1] != ']')
				return "image link holds more than its label";
		} else if (i >= n || s[i] != '>') {
			return "start tag with attributes";
		} else {
			i++;
		}
		if (strcmp(name, "br") && strcmp(name, "hr")) {
			if (h.depth >= 100)
				return "nested deeper than 100";
			strcpy(h.stack[h.depth++], name);
		}
	}
	return h.depth ? "elements left open" : NULL;
}

/* NULL if @s is text as html_to_text() and text_wrap() must write. */
static const char *check_text(const char *s, size_t n, const char *indent)
{
	size_t il = strlen(indent), i = 0, e;
	int blank, was_blank = 0;

	if (!hc_utf8_ok(s, n, 0))
		return "not UTF-8 or has controls";
	if (n && s[n - 1] != '\n')
		return "last line without a line feed";
	while (i < n) {
		e = (size_t)((const char *)memchr(s + i, '\n', n - i) - s);
		if (e - i < il || memcmp(s + i, indent, il))
			return "line without the indent";
		if (memchr(s + i, '\t', e - i) && !memchr(indent, '\t', il))
			return "tab in text";
		blank = e - i == il;
		if (blank && (i == 0 || e + 1 == n))
			return "blank line at the start or end";
		if (blank && was_blank)
			return "two blank lines";
		was_blank = blank;
		i = e + 1;
	}
	return NULL;
}

#endif
