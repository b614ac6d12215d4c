/* test_html.c - sanitised message bodies, their text and wrapping. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "html.h"
#include "html_check.h"

static char last[1 << 16];

static const char *keep(struct sbuf *b)
{
	CHECK(!b->oom);
	snprintf(last, sizeof(last), "%s", b->data ? b->data : "");
	sbuf_free(b);
	return last;
}

/* The image callback: Graph URLs map to files; some hosts give answers a
 * careless mapping could give, which the sanitiser must refuse. */
static char *map_image(void *ctx, const char *src)
{
	static const char graph[] = "https://graph.microsoft.com/";
	static const char answer[] = "answer:";

	(void)ctx;
	if (!strncmp(src, graph, strlen(graph)))
		return strdup("m1.attachments/photo%201.png");
	if (!strncmp(src, answer, strlen(answer)))
		return strdup(src + strlen(answer));
	return NULL;
}

/* An image callback that gives back whatever it is given. */
static char *echo_image(void *ctx, const char *src)
{
	(void)ctx;
	return strdup(src);
}

static const char *san_n(const char *in, size_t n)
{
	struct sbuf b = {0};
	const char *why;

	html_sanitize(in, n, map_image, NULL, &b);
	why = check_sanitized(b.data ? b.data : "", b.len);
	if (why)
		fprintf(stderr, "not well formed (%s): %s\n", why,
			b.data ? b.data : "");
	CHECK(why == NULL);
	return keep(&b);
}

static const char *san(const char *in)
{
	return san_n(in, strlen(in));
}

static const char *txt_w(const char *in, const char *indent, unsigned width)
{
	struct sbuf b = {0};
	const char *why;

	html_to_text(in, strlen(in), indent, width, &b);
	why = check_text(b.data ? b.data : "", b.len, indent);
	if (why)
		fprintf(stderr, "bad text (%s): %s\n", why,
			b.data ? b.data : "");
	CHECK(why == NULL);
	return keep(&b);
}

static const char *txt(const char *in)
{
	return txt_w(in, "", 72);
}

static const char *wrap(const char *in, const char *indent, unsigned width)
{
	struct sbuf b = {0};
	const char *why;

	text_wrap(in, strlen(in), indent, width, &b);
	why = check_text(b.data ? b.data : "", b.len, indent);
	if (why)
		fprintf(stderr, "bad text (%s): %s\n", why,
			b.data ? b.data : "");
	CHECK(why == NULL);
	return keep(&b);
}

static const char *escaped(const char *in, size_t n)
{
	struct sbuf b = {0};

	sbuf_add_escaped(&b, in, n);
	return keep(&b);
}

static void test_sbuf(void)
{
	struct sbuf b = {0};

	sbuf_add(&b, "ab", 2);
	sbuf_adds(&b, "cd");
	sbuf_adds(&b, NULL);
	sbuf_addf(&b, "-%d-%s", 42, "x");
	CHECK(b.len == 9 && !strcmp(b.data, "abcd-42-x"));
	for (int i = 0; i < 1000; i++)
		sbuf_addf(&b, "%04d", i);
	CHECK(b.len == 4009 && b.data[b.len] == '\0' && !b.oom);
	sbuf_free(&b);
	CHECK(!b.data && !b.len && !b.cap && !b.oom);
	/* Once out of memory, additions are ignored. */
	b.oom = 1;
	sbuf_adds(&b, "x");
	CHECK(!b.data && !b.len);
	sbuf_free(&b);

	CHECK_STR(escaped("a&b<c>d\"e'f", 11),
		  "a&amp;b&lt;c&gt;d&quot;e&#39;f");
	CHECK_STR(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14),
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* Invalid UTF-8: a stray byte, a cut sequence, an overlong form, a
	 * surrogate, beyond U+10FFFF, a sequence cut by its end. */
	CHECK_STR(escaped("a\xff"
			  "b",
			  3),
		  "a\xef\xbf\xbd"
		  "b");
	CHECK_STR(escaped("\xe2\x82x", 3), "\xef\xbf\xbdx");
	CHECK_STR(escaped("\xc0\xaf", 2), "\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(escaped("\xed\xa0\x80", 3),
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(escaped("\xf4\x90\x80\x80", 4),
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(escaped("\xf0\x9f\x98", 3), "\xef\xbf\xbd");
	/* Controls, NUL among them, are replaced; tab and line breaks kept */
	CHECK_STR(escaped("a\0b\x1b[2J\x7f\xc2\x9b\t\r\n", 13),
		  "a\xef\xbf\xbd"
		  "b\xef\xbf\xbd[2J\xef\xbf\xbd\xef\xbf\xbd\t\r\n");
	CHECK_STR(escaped("", 0), "");
}

static void test_entities(void)
{
	CHECK_STR(san("&amp;&lt;&gt;&quot;&apos;"), "&amp;&lt;&gt;&quot;&#39;");
	CHECK_STR(txt("&amp;&lt;&gt;&quot;&apos;"), "&<>\"'\n");
	CHECK_STR(txt("&copy;&reg;&trade;&hellip;&mdash;&ndash;&lsquo;&rsquo;"
		      "&ldquo;&rdquo;&bull;&middot;&euro;&pound;&yen;&cent;"),
		  "\xc2\xa9\xc2\xae\xe2\x84\xa2\xe2\x80\xa6\xe2\x80\x94\xe2\x80"
		  "\x93\xe2\x80\x98\xe2\x80\x99\xe2\x80\x9c\xe2\x80\x9d\xe2\x80"
		  "\xa2\xc2\xb7\xe2\x82\xac\xc2\xa3\xc2\xa5\xc2\xa2\n");
	CHECK_STR(txt("&sect;&para;&deg;&plusmn;&times;&divide;&laquo;&raquo;"
		      "&iexcl;&iquest;"),
		  "\xc2\xa7\xc2\xb6\xc2\xb0\xc2\xb1\xc3\x97\xc3\xb7\xc2\xab\xc2"
		  "\xbb\xc2\xa1\xc2\xbf\n");
	CHECK_STR(txt("&eacute;&Eacute;&uuml;&szlig;&ntilde;&ccedil;&aring;"
		      "&oslash;&AElig;"),
		  "\xc3\xa9\xc3\x89\xc3\xbc\xc3\x9f\xc3\xb1\xc3\xa7\xc3\xa5\xc3"
		  "\xb8\xc3\x86\n");
	/* Joiners stay (emoji sequences); a soft hyphen is not shown. */
	CHECK_STR(txt("a&zwj;b&zwnj;c&shy;d"), "a\xe2\x80\x8d"
					       "b\xe2\x80\x8c"
					       "cd\n");
	CHECK_STR(san("a&shy;b"), "a\xc2\xad"
				  "b");
	/* A no-break space joins words and shows as a space in text. */
	CHECK_STR(txt("a&nbsp;b"), "a b\n");
	/* Numeric, decimal and hex, with or without the semicolon. */
	CHECK_STR(txt("&#65;&#x42;&#X43;&#x1F600;&#100"), "ABC\xf0\x9f\x98\x80"
							  "d\n");
	/* Nothing, surrogates, beyond Unicode, controls: U+FFFD. */
	CHECK_STR(txt("[&#0;][&#xD800;][&#x110000;][&#99999999999999;][&#27;]"),
		  "[\xef\xbf\xbd][\xef\xbf\xbd][\xef\xbf\xbd][\xef\xbf\xbd]["
		  "\xef\xbf\xbd]\n");
	/* 0x80-0x9F are read as Windows-1252, as browsers do. */
	CHECK_STR(txt("&#128;&#x93;q&#x94;&#x81;"),
		  "\xe2\x82\xac\xe2\x80\x9cq\xe2\x80\x9d\xef\xbf\xbd\n");
	/* Unknown or incomplete references stay as they are written. */
	CHECK_STR(txt("&bogus; &#; &#x; & &; &amp"),
		  "&bogus; &#; &#x; & &; &\n");
	CHECK_STR(san("&bogus; a&b"), "&amp;bogus; a&amp;b");
	CHECK_STR(txt("&AMP; &Copy; &copy &eacute"), "&AMP; &Copy; \xc2\xa9 "
						     "&eacute\n");
	/* In an attribute, "&copy=" is not a reference (query strings). */
	CHECK_STR(
		san("<a href=\"https://e.com/?a=1&copy=2&amp;b=&lt;3\">t</a>"),
		"t (https://e.com/?a=1&amp;copy=2&amp;b=&lt;3)");
	CHECK_STR(san("<a href=\"https://e.com/&copy;\">t</a>"),
		  "t (https://e.com/\xc2\xa9)");
}

/* Checks what html_sanitize() makes of a hostile body, with an image
 * callback that gives back its src, and of its text. */
static void hostile(const char *in, const char *want)
{
	struct sbuf b = {0};
	const char *why, *out, *p;
	size_t hrefs = 0, images = 0;

	html_sanitize(in, strlen(in), echo_image, NULL, &b);
	out = b.data ? b.data : "";
	why = check_sanitized(out, b.len);
	if (why)
		fprintf(stderr, "%s: %s -> %s\n", why, in, out);
	CHECK(why == NULL);
	CHECK(!strcasestr(out, "<script"));
	CHECK(!strcasestr(out, "javascript:"));
	CHECK(!strcasestr(out, "src="));
	CHECK(!strcasestr(out, "style="));
	for (p = out; (p = strstr(p, "href=")); p++)
		hrefs++;
	for (p = out; (p = strstr(p, "<a class=\"image\" href=")); p++)
		images++;
	CHECK(hrefs == images);
	if (want && strcmp(out, want)) {
		fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", in, out, want);
		check_failures++;
	}
	sbuf_free(&b);
	txt(in);
}

static void test_hostile(void)
{
	static const char *const scripts[] = {
		"<script>alert(1)</script>ok",
		"<SCRIPT>alert(1)</SCRIPT>ok",
		"<ScRiPt src=//127.0.0.1:9/x.js>alert(1)</sCrIpT >ok",
		"<script/x>alert(1)</script\t>ok",
		"<script>document.write('<p>')</script>ok",
		"<script><!--</script>ok",
		"<script type=\"text/javascript\">a<b && c>d</script>ok",
		"<script>x</script foo=\"</script>\">ok",
		"<noscript><script>alert(1)</script></noscript>ok",
		"<script>x</scriptx>y</script>ok",
	};

	for (size_t i = 0; i < sizeof(scripts) / sizeof(*scripts); i++)
		hostile(scripts[i], "ok");
	hostile("<script>alert(1)", "");
	hostile("<script>alert(1)</script", "");
	hostile("<scr<script>ipt>alert(1)</script>", "ipt&gt;alert(1)");
	/* "scr<b" is one (unknown) tag name, as in a browser. */
	hostile("<scr<b>ipt>x", "ipt&gt;x");
	hostile("<img src=x onerror=alert(1)>",
		"<a class=\"image\" href=\"x\">[image: x]</a>");
	hostile("<img src=\"javascript:alert(1)\" onerror=alert(1)>",
		"[image]");
	hostile("<img src=\"&#106;avascript:alert(1)\">", "[image]");
	hostile("<img src=\"//127.0.0.1:9/x.png\">", "[image]");
	hostile("<img src=\"http://127.0.0.1:9/x.png\" alt=\"a&quot;b\">",
		"[image: a&quot;b]");
	hostile("<img src=\"/etc/passwd\">", "[image]");
	hostile("<img src=\"a\\b\">", "[image]");
	hostile("<img src=\"a/b&quot;onerror=&quot;x\">",
		"<a class=\"image\" href=\"a/b&quot;onerror=&quot;x\">[image: "
		"b&quot;onerror=&quot;x]</a>");
	hostile("<image src=x>",
		"<a class=\"image\" href=\"x\">[image: x]</a>");
	hostile("<style>body{background:url(http://127.0.0.1:9/x)}</style>t",
		"t");
	hostile("<STYLE>@import 'http://127.0.0.1:9/x.css';</STYLE>t", "t");
	hostile("<div style=\"background:url(http://127.0.0.1:9/x)\">d</div>",
		"<div>d</div>");
	hostile("<p onclick=\"alert(1)\" class=x id=y>p</p>", "<p>p</p>");
	hostile("<a href=\"javascript:alert(1)\">x</a>", "x");
	hostile("<a href=\"JaVaScRiPt:alert(1)\">x</a>", "x");
	hostile("<a href=\"&#106;avascript:alert(1)\">x</a>", "x");
	hostile("<a href=\"&#x6A;avascript&#58;alert(1)\">x</a>", "x");
	hostile("<a href=\"jav&#x09;ascript:alert(1)\">x</a>", "x");
	hostile("<a href=\"java\nscript:alert(1)\">x</a>", "x");
	hostile("<a href=\" \x01javascript:alert(1)\">x</a>", "x");
	hostile("<a href=\"vbscript:x\">x</a><a "
		"href=\"data:text/html,<b>\">y</a>",
		"xy");
	hostile("<a href=\"http://127.0.0.1:9/\" "
		"onmouseover=\"alert(1)\">l</a>",
		"l (http://127.0.0.1:9/)");
	hostile("<iframe src=\"http://127.0.0.1:9/\"></iframe>after", "after");
	hostile("<iframe src=\"http://127.0.0.1:9/\">", "");
	hostile("<IFRAME SRCDOC=\"<script>alert(1)</script>\"></IFRAME>a", "a");
	hostile("<frameset><frame src=x></frameset>a", "a");
	hostile("<svg onload=alert(1)><circle r=1 /></svg>after", "after");
	hostile("<svg/onload=alert(1)>after", "");
	hostile("<svg/>after", "after");
	hostile("<svg><script>alert(1)</script><foreignObject><iframe "
		"src=x></iframe></foreignObject></svg>after",
		"after");
	/* In <svg>, an HTML element takes a browser back to HTML. */
	hostile("<svg><g><p>shown</p>", "<p>shown</p>");
	hostile("<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>a",
		"a");
	hostile("<meta http-equiv=\"refresh\" "
		"content=\"0;url=http://127.0.0.1:9/\">x",
		"x");
	hostile("<base href=\"http://127.0.0.1:9/\">x", "x");
	hostile("<link rel=stylesheet href=\"http://127.0.0.1:9/s.css\">x",
		"x");
	hostile("<object data=\"http://127.0.0.1:9/x.swf\"><param name=a "
		"value=b>fallback</object>after",
		"after");
	hostile("<embed src=\"http://127.0.0.1:9/x\">after", "after");
	hostile("<applet code=x>a</applet>b", "b");
	hostile("<form action=\"http://127.0.0.1:9/\"><input name=a "
		"onfocus=alert(1) autofocus><button formaction=x>Go</button>"
		"</form>",
		"<div>Go</div>");
	hostile("<select><option>o</option></select>z", "z");
	hostile("<textarea></textarea><script>alert(1)</script></textarea>z",
		"z");
	hostile("<template><script>alert(1)</script></template>z", "z");
	hostile("<title>t</title><head><meta charset=x></head>z", "z");
	hostile("a<!--<script>alert(1)</script>", "a");
	hostile("a<!-- c -->b<!--->c<!-->d<!-- x --!>e", "abcde");
	hostile("<!DOCTYPE html><html><body><p>b</p></body></html>",
		"<p>b</p>");
	hostile("<![CDATA[<script>x</script>]]>z", "z");
	hostile("<?xml version=\"1.0\"?><?php system($x) ?>z", "z");
	hostile("<b class=\"y", "");
	hostile("x<a href=\"http://e/", "x");
	hostile("<xmp><script>alert(1)</script></xmp>",
		"<pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre>");
	hostile("<plaintext><b>x", "<pre>&lt;b&gt;x</pre>");
	hostile("<div><span class=\"x\" id=y>s</span></div>",
		"<div><span>s</span></div>");
	hostile("<at id=\"0\" onclick=x>Bob</at>",
		"<span class=\"mention\">@Bob</span>");
	hostile("<emoji alt=\"<script>\"></emoji>", "&lt;script&gt;");
	hostile("<a href=x><a href=y>b</a></a>", " (x)b (y)");
	hostile("<table><tr><td><a href=x>a<td>b", NULL);
	hostile("<p><table><a href=x>t</a><tr><td>c</table>", NULL);
}

static void test_sanitize(void)
{
	const char nul[] = "a\0b<scr\0ipt>c</scr\0ipt>";
	struct sbuf b = {0};
	char *big;
	size_t n;

	CHECK_STR(san("<p>Hello <b>world</b></p>"),
		  "<p>Hello <b>world</b></p>");
	CHECK_STR(san(""), "");
	CHECK_STR(san("plain < text > & \"q\""),
		  "plain &lt; text &gt; &amp; &quot;q&quot;");
	CHECK_STR(san("a<1 <> <"), "a&lt;1 &lt;&gt; &lt;");
	CHECK_STR(san("a</ b>c</"), "ac&lt;/");
	CHECK_STR(san("</>x</ y>z"), "xz");
	CHECK_STR(san("<P>A<BR>B</p><Em>e</EM>"), "<p>A<br>B</p><em>e</em>");
	CHECK_STR(san_n(nul, sizeof(nul) - 1), "a\xef\xbf\xbd"
					       "bc");
	CHECK_STR(san("<font color=red>x</font><center>c</center>"),
		  "x<div>c</div>");
	CHECK_STR(san("<section>a</section><section>b</section>"),
		  "<div>a</div><div>b</div>");
	CHECK_STR(san("<tt>t</tt><kbd>k</kbd><listing>l</listing>"),
		  "<code>t</code><code>k</code><pre>l</pre>");
	/* Elements a browser closes by itself are closed here. */
	CHECK_STR(san("<ul><li>a<li>b</ul>"), "<ul><li>a</li><li>b</li></ul>");
	CHECK_STR(san("<ul><li>a<ul><li>b</ul><li>c</ul>"),
		  "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>");
	CHECK_STR(san("<li><div><li>x"),
		  "<ul><li><div></div></li><li>x</li></ul>");
	/* An item outside a list gets one: a browser would otherwise look
	 * for an <li> to close in the page around the fragment. */
	CHECK_STR(san("<li>a</li><li>b</li>"), "<ul><li>a</li><li>b</li></ul>");
	CHECK_STR(san("<div><li>a</div>b"), "<div><ul><li>a</li></ul></div>b");
	CHECK_STR(san("<blockquote><li>a</blockquote>"),
		  "<blockquote><li>a</li></blockquote>");
	CHECK_STR(san("<p>a<p>b"), "<p>a</p><p>b</p>");
	CHECK_STR(san("<p>a<div>b</div>c</p>"), "<p>a</p><div>b</div>c");
	CHECK_STR(san("<p><b>a<ul><li>b</ul>"),
		  "<p><b>a</b></p><ul><li>b</li></ul>");
	CHECK_STR(san("<h1>a<h2>b</h1>c"), "<h1>a</h1><h2>b</h2>c");
	CHECK_STR(san("<h1>a</h3>b"), "<h1>a</h1>b");
	/* A link being read is not an element: the <h1> is current. */
	CHECK_STR(san("<h1><a href=x>t<h2>u"), "<h1>t (x)</h1><h2>u</h2>");
	CHECK_STR(san("<b>bold<i>both</b>italic</i>"),
		  "<b>bold<i>both</i></b>italic");
	CHECK_STR(san("</p></div></b>x</li>"), "x");
	CHECK_STR(san("<br/><hr/></br><br></br>"), "<br><hr><br><br><br>");
	CHECK_STR(san("<div><table><tr><td></div>x</td></tr></table></div>"),
		  "<div><table><tr><td>x</td></tr></table></div>");
	/* Tables: cells in rows, rows in tables, text in cells. */
	CHECK_STR(san("<table><tr><td>a<td>b</table>x"),
		  "<table><tr><td>a</td><td>b</td></tr></table>x");
	CHECK_STR(san("<table><thead><tr><th>h</th></tr></thead><tbody><tr>"
		      "<td>d</td></tr></tbody></table>"),
		  "<table><thead><tr><th>h</th></tr></thead><tbody><tr><td>d"
		  "</td></tr></tbody></table>");
	CHECK_STR(san("<table>loose<tr><td>x</td></tr></table>"),
		  "<table><tr><td>loose</td></tr><tr><td>x</td></tr></table>");
	CHECK_STR(san("<table> <td>a</td>\n<p>b</table>"),
		  "<table><tr><td>a</td><td><p>b</p></td></tr></table>");
	CHECK_STR(san("<td>x</td><tr>y</tr><tbody>z"), "xyz");
	CHECK_STR(san("<table><tr><td><table><tr><td>in</td></tr></table>"
		      "out</td></tr></table>"),
		  "<table><tr><td><table><tr><td>in</td></tr></table>out</td>"
		  "</tr></table>");
	/* <pre>: a browser drops the line feed just after the tag. */
	CHECK_STR(san("<pre>\nx\n y</pre>"), "<pre>x\n y</pre>");
	CHECK_STR(san("<pre>\n\nx</pre>"), "<pre>\n\nx</pre>");
	CHECK_STR(san("<pre>\r\n\r\nx</pre>"), "<pre>\n\nx</pre>");
	CHECK_STR(san("<pre><b>\nx</b></pre>"), "<pre><b>\nx</b></pre>");
	/* Teams' own markup. */
	CHECK_STR(san("<p>Hi <at id=\"0\">Alice Smith</at>!</p>"),
		  "<p>Hi <span class=\"mention\">@Alice Smith</span>!</p>");
	CHECK_STR(san("<p>ok <emoji id=\"smile\" alt=\"\xf0\x9f\x99\x82\" "
		      "title=\"Smile\"></emoji></p>"),
		  "<p>ok \xf0\x9f\x99\x82</p>");
	CHECK_STR(san("<span class=\"animated-emoticon-20-cool\"><img "
		      "itemscope itemtype=\"http://schema.skype.com/Emoji\" "
		      "itemid=\"cool\" src=\"https://statics.teams.cdn.office."
		      "net/evergreen-assets/skype/v2/cool/20.png\" alt=\"\xf0"
		      "\x9f\x98\x8e\" style=\"width:20px\"></span>"),
		  "<span>\xf0\x9f\x98\x8e</span>");
	CHECK_STR(san("<attachment id=\"a1b2\"></attachment>"), "");
	CHECK_STR(san("<blockquote itemtype=\"http://schema.skype.com/Reply\" "
		      "itemscope><strong itemprop=\"mri\">Bob</strong><p "
		      "itemprop=\"preview\">q</p></blockquote><p>r</p>"),
		  "<blockquote><strong>Bob</strong><p>q</p></blockquote><p>r"
		  "</p>");
	/* Links: text, then the URL when the text does not say it. */
	CHECK_STR(san("<a href=\"https://x.y/\">https://x.y/</a>"),
		  "https://x.y/");
	CHECK_STR(san("<a href=\"https://x.y/\">https://x.y</a>"),
		  "https://x.y");
	CHECK_STR(san("<a href=\"http://www.x.y\">www.x.y</a>"), "www.x.y");
	CHECK_STR(san("<a href=\"mailto:a@b.c\">a@b.c</a>"), "a@b.c");
	CHECK_STR(san("<a href=\"https://e.com/q\">here</a>"),
		  "here (https://e.com/q)");
	CHECK_STR(san("<a href=\"https://e.com\"><b>bold</b></a>!"),
		  "<b>bold</b> (https://e.com)!");
	CHECK_STR(san("<a name=\"x\">anchor</a>"), "anchor");
	CHECK_STR(san("<a href=\"u1\">a<a href=\"u2\">b</a>"), "a (u1)b (u2)");
	CHECK_STR(san("<a href=\"https://e.com\">unclosed"),
		  "unclosed (https://e.com)");
	CHECK_STR(san("<p><a href=\"https://e.com\">x</p>y"),
		  "<p>x (https://e.com)</p>y");
	/* Images: a link to the callback's relative URL, never an <img>. */
	CHECK_STR(san("<img src=\"https://graph.microsoft.com/v1.0/chats/c/"
		      "messages/m/hostedContents/aWQ/$value\" alt=\"image\" "
		      "style=\"width:250px\">"),
		  "<a class=\"image\" href=\"m1.attachments/photo%201.png\">"
		  "[image: photo 1.png]</a>");
	CHECK_STR(san("<img src=\"https://graph.microsoft.com/x\" "
		      "alt=\" a  diagram \">"),
		  "<a class=\"image\" href=\"m1.attachments/photo%201.png\">"
		  "[image: a diagram]</a>");
	CHECK_STR(san("<img src=\"https://example.com/x.png\">"), "[image]");
	CHECK_STR(san("<img src=\"https://example.com/x.png\" alt=\"chart\">"),
		  "[image: chart]");
	CHECK_STR(san("<img alt=\"none\">"), "[image: none]");
	CHECK_STR(san("<img src=\"answer:javascript:alert(1)\">"), "[image]");
	CHECK_STR(san("<img src=\"answer://127.0.0.1:9/x\">"), "[image]");
	CHECK_STR(san("<img src=\"answer:/abs/x\">"), "[image]");
	CHECK_STR(san("<img src=\"answer:a b\">"), "[image]");
	CHECK_STR(san("<img src=\"answer:\">"), "[image]");
	CHECK_STR(san("<img src=\"answer:x/\">"),
		  "<a class=\"image\" href=\"x/\">[image]</a>");
	CHECK_STR(san("<img src=\"answer:../a%2Fb%ZZ.png?x=1#f\">"),
		  "<a class=\"image\" href=\"../a%2Fb%ZZ.png?x=1#f\">[image: "
		  "a/b%ZZ.png]</a>");
	CHECK_STR(san("<img src=\"answer:a&amp;b<c>.png\">"),
		  "<a class=\"image\" href=\"a&amp;b&lt;c&gt;.png\">[image: "
		  "a&amp;b&lt;c&gt;.png]</a>");
	CHECK_STR(san("<table><img src=\"https://graph.microsoft.com/x\">"
		      "</table>"),
		  "<table><tr><td><a class=\"image\" href=\"m1.attachments/"
		  "photo%201.png\">[image: photo 1.png]</a></td></tr></table>");
	html_sanitize("<img src=x alt=y>", 17, NULL, NULL, &b);
	CHECK_STR(keep(&b), "[image: y]");
	/* Appends: what is in the buffer stays. */
	sbuf_adds(&b, "<div>");
	html_sanitize("<b>x", 4, NULL, NULL, &b);
	CHECK_STR(keep(&b), "<div><b>x</b>");
	html_sanitize(NULL, 0, NULL, NULL, &b);
	CHECK(b.len == 0 && !b.oom);
	sbuf_free(&b);

	/* Depth is capped, so a browser builds the same tree. */
	n = 500 * 3 + 500 * 5;
	big = malloc(n + 1);
	for (size_t i = 0; i < 500; i++)
		memcpy(big + i * 3, "<b>", 3);
	for (size_t i = 0; i < 500; i++)
		memcpy(big + 1500 + i * 5, "<div>", 5);
	big[n] = '\0';
	html_sanitize(big, n, NULL, NULL, &b);
	CHECK(check_sanitized(b.data ? b.data : "", b.len) == NULL);
	sbuf_free(&b);
	free(big);
	/* Near the cap, a table opens only with room for its row and cell. */
	for (size_t k = 95; k <= 100; k++) {
		big = calloc(1, k * 3 + 64);
		for (size_t i = 0; i < k; i++)
			memcpy(big + i * 3, "<b>", 3);
		strcat(big, "<table>x<tbody>y<tr>z<td>w</table>v");
		html_sanitize(big, strlen(big), NULL, NULL, &b);
		CHECK(check_sanitized(b.data ? b.data : "", b.len) == NULL);
		CHECK(b.data && strstr(b.data, "x") && strstr(b.data, "w"));
		sbuf_free(&b);
		free(big);
	}

	/* A large body: linear, well formed. */
	n = 4 << 20;
	big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = "<p>a&amp; <b>x</i></ul><li>\xc3\xa9<td>"[i % 37];
	html_sanitize(big, n, NULL, NULL, &b);
	CHECK(!b.oom && check_sanitized(b.data, b.len) == NULL);
	sbuf_free(&b);
	html_to_text(big, n, "  ", 60, &b);
	CHECK(!b.oom && check_text(b.data, b.len, "  ") == NULL);
	sbuf_free(&b);
	memset(big, '<', n);
	html_sanitize(big, n, NULL, NULL, &b);
	CHECK(b.len == n * 4);
	sbuf_free(&b);
	free(big);
}

static void test_text(void)
{
	CHECK_STR(txt(""), "");
	CHECK_STR(txt("<p> </p><div>\n</div>"), "");
	CHECK_STR(txt("<p>Hello   <b>big</b>\n\t world</p>"),
		  "Hello big world\n");
	CHECK_STR(txt("a<b>b</b>c <i> d </i> e"), "abc d e\n");
	/* Blocks end lines; empty paragraphs (Teams' blank lines) and <br>
	 * give single blank lines, none at either end. */
	CHECK_STR(txt("<p>a</p><p>b</p>"), "a\nb\n");
	CHECK_STR(txt("<p>&nbsp;</p><p>a</p><p>&nbsp;</p><p>&nbsp;</p><p>b</p>"
		      "<p>&nbsp;</p>"),
		  "a\n\nb\n");
	CHECK_STR(txt("x<br>y<br><br><br><br>z<br>"), "x\ny\n\nz\n");
	CHECK_STR(txt("<div>a</div><div><br></div><div>b</div>"), "a\n\nb\n");
	CHECK_STR(txt("<h1>Title</h1>text<h2>Sub</h2>"), "Title\ntext\nSub\n");
	CHECK_STR(txt("a<hr>b"), "a\n---\nb\n");
	/* Lists: markers, numbering, nesting with hanging indents. */
	CHECK_STR(txt("<ul><li>one</li><li>two</li></ul>after"),
		  "- one\n- two\nafter\n");
	CHECK_STR(txt("<ol><li>a<li>b<li>c</ol>"), "1. a\n2. b\n3. c\n");
	CHECK_STR(txt("<ul><li>a<ul><li>b<ol><li>c</li><li>d</li></ol></li>"
		      "</ul></li><li>e</li></ul>"),
		  "- a\n  - b\n    1. c\n    2. d\n- e\n");
	CHECK_STR(txt("<ol><li><p>para one</p><p>para two</p></li></ol>"),
		  "1. para one\n   para two\n");
	CHECK_STR(txt("<li>loose</li>"), "- loose\n");
	CHECK_STR(txt_w("<ol><li>first item has a fairly long text that "
			"wraps</li><li>x</li></ol>",
			"  ", 30),
		  "  1. first item has a fairly\n"
		  "     long text that wraps\n"
		  "  2. x\n");
	/* Quotes: "> " on every line, kept on wrapped lines. */
	CHECK_STR(txt("<blockquote>quoted</blockquote>reply"),
		  "> quoted\nreply\n");
	CHECK_STR(txt_w("<blockquote><p>quoted text that is long enough to "
			"wrap</p><p>&nbsp;</p><blockquote>deeper</blockquote>"
			"</blockquote>",
			"", 20),
		  "> quoted text that\n> is long enough to\n> wrap\n>\n"
		  "> > deeper\n");
	CHECK_STR(txt("<blockquote><ul><li>a</li></ul></blockquote>"),
		  "> - a\n");
	CHECK_STR(txt("<ul><li><blockquote>q</blockquote></li></ul>"),
		  "- > q\n");
	/* <pre> keeps its lines and spaces; tabs become spaces. */
	CHECK_STR(txt("<pre>\nline1\n  line2\n\n\n\tx</pre>after"),
		  "line1\n  line2\n\n        x\nafter\n");
	CHECK_STR(txt("<pre>a  b</pre>"), "a  b\n");
	CHECK_STR(txt("<xmp><b>&amp;</b></xmp>"), "<b>&amp;</b>\n");
	/* Tables: a row a line, cells apart. */
	CHECK_STR(txt("<table><tr><th>Name</th><th>Age</th></tr><tr><td><p>"
		      "Al</p></td><td>30</td></tr></table>"),
		  "Name | Age\nAl | 30\n");
	CHECK_STR(txt("<table><tr><td>a<br>b</td><td></td><td>c</td></tr>"
		      "</table>"),
		  "a b | | c\n");
	/* Teams' markup, links and images. */
	CHECK_STR(
		txt("<p>Hi <at id=\"0\">Alice</at>, see <a href=\"https://"
		    "e.com/d\">the doc</a> and <a href=\"https://e.com\">"
		    "https://e.com</a></p>"),
		"Hi @Alice, see the doc (https://e.com/d) and https://e.com\n");
	CHECK_STR(
		txt("<img src=\"https://graph.microsoft.com/x\" alt=\"image\">"
		    "<img src=x alt=\"plan\"><emoji alt=\"\xf0\x9f\x98\x80\">"),
		"[image][image: plan]\xf0\x9f\x98\x80\n");
	CHECK_STR(txt("<a href=\"javascript:alert(1)\">x</a>"), "x\n");
	CHECK_STR(txt("<script>alert(1)</script><style>p{}</style>ok"), "ok\n");
	CHECK_STR(txt("a\r\nb\rc\x1b[31m\x7f"), "a b c\xef\xbf\xbd[31m\xef"
						"\xbf\xbd\n");
	/* Indent: on every line, blank ones too. */
	CHECK_STR(txt_w("<p>a</p><p>&nbsp;</p><p>b</p>", "    ", 72),
		  "    a\n    \n    b\n");
	CHECK_STR(txt_w("<blockquote>a<br><br>b</blockquote>", "\t", 72),
		  "\t> a\n\t>\n\t> b\n");
}

static void test_wrap(void)
{
	/* Width counts the indent, in characters, not bytes. */
	CHECK_STR(txt_w("aaa bbb ccc ddd", "", 7), "aaa bbb\nccc ddd\n");
	CHECK_STR(txt_w("aaa bbb ccc ddd", "  ", 9), "  aaa bbb\n  ccc ddd\n");
	CHECK_STR(txt_w("aaaa bbbb", "", 4), "aaaa\nbbbb\n");
	/* A word longer than the width is split. */
	CHECK_STR(txt_w("abcdefghij", "", 4), "abcd\nefgh\nij\n");
	CHECK_STR(txt_w("xy abcdefghij", "", 4), "xy\nabcd\nefgh\nij\n");
	CHECK_STR(txt_w("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 \xe6\x97\xa5"
			"\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80\xf0\x9f\x98"
			"\x80",
			"", 3),
		  "\xc3\xa9\xc3\xa9\xc3\xa9\n\xc3\xa9\xc3\xa9\n\xe6\x97\xa5\xe6"
		  "\x9c\xac\xe8\xaa\x9e\n\xf0\x9f\x98\x80\xf0\x9f\x98\x80\n");
	CHECK_STR(txt_w("<ul><li>abcdefghijklmnopqrstuvwxy</li></ul>", "", 14),
		  "- abcdefghijkl\n  mnopqrstuvwx\n  y\n");
	/* A link's URL wraps like any word. */
	CHECK_STR(txt_w("<a href=\"https://e.com/abc\">see</a> it", "", 10),
		  "see\n(https://e\n.com/abc)\nit\n");
	/* Preformatted lines are cut at the width too. */
	CHECK_STR(txt_w("<pre>abcdef\nab</pre>", "", 4), "abcd\nef\nab\n");
	/* No wrapping at width 0. */
	CHECK_STR(txt_w("aaa bbb ccc", "> ", 0), "> aaa bbb ccc\n");
	/* However deep the nesting, 10 columns are left for text. */
	CHECK_STR(txt_w("<blockquote><blockquote><blockquote>abcdefghijkl"
			"</blockquote></blockquote></blockquote>",
			"", 12),
		  "> > > abcdefghij\n> > > kl\n");

	/* text_wrap(): line breaks kept, blank lines single, none at the
	 * ends, runs of spaces kept but not at a wrap. */
	CHECK_STR(wrap("", "", 10), "");
	CHECK_STR(wrap("\n\n", "", 10), "");
	CHECK_STR(wrap("a\nb\n\n\n\nc\n\n", "", 10), "a\nb\n\nc\n");
	CHECK_STR(wrap("\n\nhello   world this is text", "> ", 15),
		  "> hello   world\n> this is text\n");
	CHECK_STR(wrap("    indented line", "", 10), "indented\nline\n");
	CHECK_STR(wrap("  in\n    more", "", 10), "  in\n    more\n");
	CHECK_STR(wrap("  ab\tc", "", 20), "  ab    c\n");
	CHECK_STR(wrap("a\r\nb\rc", "", 20), "a\nb\nc\n");
	CHECK_STR(wrap("x <b>&amp;</b>", "", 20), "x <b>&amp;</b>\n");
	CHECK_STR(wrap("\xff\x1b[2J ok", "", 20),
		  "\xef\xbf\xbd\xef\xbf\xbd[2J ok\n");
	CHECK_STR(wrap("abcdefghij", "  ", 6), "  abcd\n  efgh\n  ij\n");
	CHECK_STR(wrap("a\n\nb", "  ", 0), "  a\n  \n  b\n");
}

int main(void)
{
	test_sbuf();
	test_entities();
	test_hostile();
	test_sanitize();
	test_text();
	test_wrap();
	return CHECK_DONE();
}
