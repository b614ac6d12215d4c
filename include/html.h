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

/* A growing byte buffer; starts zeroed.  @data is NUL-terminated once
 * anything was added (it is NULL before).  On allocation failure @oom is
 * set and further additions are ignored. */
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
 * (& < > " ' become &amp; &lt; &gt; &quot; &#39;); invalid UTF-8 becomes
 * U+FFFD, as do NUL and other controls but tab, LF and CR (they could
 * drive a terminal that shows the file).
 */
void sbuf_add_escaped(struct sbuf *b, const char *s, size_t n);

/* Frees the buffer and zeroes it. */
void sbuf_free(struct sbuf *b);

/*
 * Maps an image source found in a body (an absolute URL, usually a Graph
 * hostedContents URL; entities decoded) to a relative link to its file in
 * the mount.  Returns a malloc'd URL, already percent-encoded, or NULL if
 * the image is not one of the message's files.  The answer is freed by
 * the caller of this function, and refused (as if NULL) unless relative:
 * not empty, no scheme (no ':' before the first '/', '?' or '#'), not
 * starting with '/', and no space, control or '\' anywhere.
 */
typedef char *(*html_image_fn)(void *ctx, const char *src);

/*
 * Appends a safe rendering of body @in (@len bytes of HTML) to @out:
 *  - only harmless formatting elements are kept (p, br, div, span, b,
 *    strong, i, em, u, s, strike, del, ins, sub, sup, small, code, pre,
 *    blockquote, ul, ol, li, h1-h6, hr, table and its parts), with no
 *    attributes at all;
 *  - script, style, iframe, frame, frameset, object, embed, applet,
 *    noscript, noembed, noframes, template, svg, math, title, textarea
 *    and select are dropped with their content (in svg and math, an HTML
 *    element such as <p> ends them, as in a browser); base, link and meta
 *    go; other elements are dropped keeping their content, but block-like
 *    ones (section, article, header, form, dl, center, ...) become <div>,
 *    tt/kbd/samp <code>, var <i>, listing/xmp/plaintext <pre>.  head and
 *    html are such elements (what they usually hold is dropped anyway), so
 *    text a browser would show stays;
 *  - <a href> becomes its text followed by " (URL)" as text when the text
 *    does not already say the URL (no link: a remote href would leave the
 *    page when clicked); the URL is shown only if relative or http, https,
 *    mailto, tel, ftp, sip, sips, callto or msteams, never javascript: and
 *    the like;
 *  - <img> becomes <a class="image" href="R">[image: LABEL]</a> where R is
 *    @image's answer for its src and LABEL the alt text, or else R's last
 *    path segment percent-decoded ("[image]" if both are empty); when
 *    @image is NULL or gives NULL, the text "[image: ALT]" or "[image]";
 *    it is never an <img>.  An alt of "image" (what Teams writes) counts
 *    as none; a Teams emoji picture (itemtype .../Emoji) is its alt text;
 *  - Teams' <at id="N">Name</at> mention becomes
 *    <span class="mention">@Name</span>; <emoji alt="X"> becomes X and
 *    <attachment> nothing;
 *  - text is re-escaped, so entities and stray < > & are well formed;
 *    elements left open are closed at the end, stray closing tags dropped.
 * What a browser would close or move by itself is closed or placed first
 * (an open <p> before a block, the previous <li>, a cell before a new row,
 * cells opened for text directly in a table, a <ul> around an <li> that
 * has no list), and nesting stops at 100 levels, so a browser builds
 * exactly the tree written: its end tags close only its own elements.
 * The output is a fragment that can be placed inside a <div>.
 */
void html_sanitize(const char *in, size_t len, html_image_fn image, void *ctx,
		   struct sbuf *out);

/*
 * Appends body @in (@len bytes of HTML) as plain UTF-8 text to @out:
 * tags dropped (with html_sanitize()'s choice of what is dropped whole),
 * entities decoded, block elements (p, div, li, headings, tables' rows)
 * end lines, an empty paragraph (Teams' <p>&nbsp;</p>) or <br> on an empty
 * line gives a blank line, <hr> a line "---", a row's cells are joined by
 * " | ", list items start with "- " (or "N. " in ordered lists) and wrap
 * under their text, blockquote lines start with "> " (a blank one in a
 * quote is ">"), <pre> keeps its line breaks and spaces (tabs to stops of
 * 8), mentions become "@Name", images "[image: ALT]" or "[image]", links
 * "text (URL)" as html_sanitize() writes them, runs of white space collapse
 * outside <pre>, soft hyphens vanish, no-break spaces are spaces.
 * Every line starts with @indent, ends with "\n" and is at most @width
 * code points long, @indent included (a word longer than that is split;
 * lines can be longer only where quotes and lists nest so deep that fewer
 * than 10 columns would be left; quotes and lists deeper than 10 levels
 * add no more marks; @width 0: no wrapping).  Blank lines are
 * kept single, none at start or end; a blank line is @indent and the quote
 * marks, so a body with no text appends nothing.  No control characters
 * but "\n" are written (others become U+FFFD).
 */
void html_to_text(const char *in, size_t len, const char *indent,
		  unsigned width, struct sbuf *out);

/*
 * Appends plain text @in (@len bytes; "\n", "\r\n" or "\r" separates
 * lines) wrapped like html_to_text() does, for bodies whose contentType is
 * "text": its line breaks are kept, blank lines single and none at start
 * or end; runs of spaces are kept (tabs to stops of 8) except where a
 * line wraps; nothing is read as HTML.
 */
void text_wrap(const char *in, size_t len, const char *indent, unsigned width,
	       struct sbuf *out);

#endif
