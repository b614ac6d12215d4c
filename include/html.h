/*
 * html.h - message bodies made safe to open in a browser, and readable as
 * plain text.
 *
 * Teams message bodies are HTML written by clients, bots and connectors, so
 * they may hold anything: scripts, frames, event handlers, styles that load
 * remote URLs, remote images.  The transcripts (transcript.h) show them in a
 * page an auditor opens in a browser, and as text.  Both directions are
 * built on one small tokenizer that never fails on bad input: what it does
 * not understand becomes text.
 */
#ifndef TEAMSFS_HTML_H
#define TEAMSFS_HTML_H

#include <stdarg.h>
#include <stddef.h>

/* A growing byte buffer; starts zeroed.  On allocation failure @oom is set
 * and further additions are ignored. */
struct sbuf {
	char *data;
	size_t len, cap;
	int oom;
};

void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Appends @n bytes of text at @s escaped for HTML text and attribute values
 * (& < > " ' become entities); invalid UTF-8 becomes U+FFFD.
 */
void sbuf_add_escaped(struct sbuf *b, const char *s, size_t n);

/* Frees the buffer and zeroes it. */
void sbuf_free(struct sbuf *b);

/*
 * Maps an image source found in a body (an absolute URL, usually a Graph
 * hostedContents URL) to a relative link to its file in the mount.
 * Returns a malloc'd URL, already percent-encoded, or NULL if the image is
 * not one of the message's files.
 */
typedef char *(*html_image_fn)(void *ctx, const char *src);

/*
 * Appends a safe rendering of body @in (@len bytes of HTML) to @out:
 *  - only harmless formatting elements are kept (p, br, div, span, b,
 *    strong, i, em, u, s, strike, del, ins, sub, sup, small, code, pre,
 *    blockquote, ul, ol, li, h1-h6, hr, table and its parts), with no
 *    attributes at all;
 *  - the contents of script, style, iframe, frame, object, embed,
 *    noscript, template, svg, math, head, title, textarea and select are
 *    dropped whole; other unknown elements are dropped, keeping their
 *    text;
 *  - <a href> becomes its text followed by the URL as text (no link: a
 *    remote href would leave the page when clicked);
 *  - <img> becomes a link to @image's answer for its src, labelled
 *    "[image: <alt or file name>]", or the text "[image]" when @image gives
 *    NULL; it is never an <img>;
 *  - Teams' <at id="N">Name</at> mention becomes
 *    <span class="mention">@Name</span>; <attachment> and <emoji> tags
 *    become their alt text or nothing;
 *  - text is re-escaped, so entities and stray < > & are well formed;
 *    elements left open are closed at the end, stray closing tags dropped.
 * The output is a fragment that can be placed inside a <div>.
 */
void html_sanitize(const char *in, size_t len, html_image_fn image, void *ctx,
		   struct sbuf *out);

/*
 * Appends body @in (@len bytes of HTML) as plain UTF-8 text to @out:
 * tags dropped, entities decoded, block elements (p, div, br, li, hr,
 * headings, tables' rows) end lines, list items start with "- " (or "N. "
 * in ordered lists), blockquote lines start with "> ", <pre> keeps its line
 * breaks, mentions become "@Name", images "[image: name]", links "text
 * (URL)" when the URL differs from the text, runs of white space collapse
 * outside <pre>.  Every line is wrapped at @width columns (counted in code
 * points; a word longer than the width is split), starts with @indent and
 * ends with "\n"; blank lines are kept single, none at start or end.
 */
void html_to_text(const char *in, size_t len, const char *indent,
		  unsigned width, struct sbuf *out);

/*
 * Appends plain text @in (@len bytes; "\n" separates lines) wrapped like
 * html_to_text() does, for bodies whose contentType is "text".
 */
void text_wrap(const char *in, size_t len, const char *indent, unsigned width,
	       struct sbuf *out);

#endif
