/* attach.c - finding a message's attachments and naming their files. */
#include "attach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* A growing array of attachments. */
struct att_list {
	struct att *a;
	size_t n, cap;
};

static struct att *add(struct att_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct att *p = realloc(l->a, cap * sizeof(*p));

		if (!p)
			return NULL;
		l->a = p;
		l->cap = cap;
	}
	memset(&l->a[l->n], 0, sizeof(l->a[0]));
	return &l->a[l->n++];
}

static int taken(const struct att_list *l, const char *name)
{
	for (size_t i = 0; i + 1 < l->n; i++)
		if (!strcmp(l->a[i].name, name))
			return 1;
	return 0;
}

/* Names the last attachment from @base + @ext, unique in the message. */
static void name_it(struct att_list *l, const char *base, const char *ext)
{
	struct att *a = &l->a[l->n - 1];
	size_t blen = strlen(base), elen = strlen(ext);
	char *raw = malloc(blen + elen + 24);

	if (!raw) {
		snprintf(a->name, sizeof(a->name), "%%nattachment-%zu", l->n);
		return;
	}
	for (unsigned k = 1;; k++) {
		if (k == 1)
			snprintf(raw, blen + elen + 24, "%s%s", base, ext);
		else
			snprintf(raw, blen + elen + 24, "%s~%u%s", base, k,
				 ext);
		name_from_id(raw, strlen(raw), "", a->name);
		if (!taken(l, a->name))
			break;
	}
	free(raw);
}

/* Splits "stem.ext" so a clash suffix goes before the extension. */
static void name_file(struct att_list *l, const char *file)
{
	const char *dot = strrchr(file, '.');
	char *stem;

	if (!dot || dot == file || strlen(dot) > 10) {
		name_it(l, file, "");
		return;
	}
	stem = strndup(file, (size_t)(dot - file));
	if (!stem) {
		name_it(l, file, "");
		return;
	}
	name_it(l, stem, dot);
	free(stem);
}

/* An inline attachment: its content (pretty, if it is JSON) as a file. */
static int add_inline(struct att_list *l, struct json_object *item)
{
	const char *content = str_of(item, "content");
	const char *label = str_of(item, "name");
	struct json_object *parsed = NULL;
	struct att *a = add(l);

	if (!a)
		return -ENOMEM;
	a->kind = ATT_INLINE;
	if (content)
		parsed = json_tokener_parse(content);
	if (parsed) {
		a->data = render_json(parsed, &a->len);
		json_object_put(parsed);
	} else if (content) {
		a->len = strlen(content) + 1;
		a->data = malloc(a->len + 1);
		if (a->data)
			snprintf(a->data, a->len + 1, "%s\n", content);
	} else {
		a->data = render_json(item, &a->len);
	}
	if (!a->data)
		return -ENOMEM;
	if (!label || !*label)
		label = str_of(item, "id");
	if (!label || !*label)
		label = "attachment";
	name_it(l, label, ".json");
	return 0;
}

static int add_reference(struct att_list *l, struct json_object *item)
{
	const char *file = str_of(item, "name");
	struct att *a;

	a = add(l);
	if (!a)
		return -ENOMEM;
	a->kind = ATT_REFERENCE;
	a->source = strdup(str_of(item, "contentUrl"));
	if (!a->source)
		return -ENOMEM;
	if (!file || !*file) {
		file = strrchr(a->source, '/');
		file = file && file[1] ? file + 1 : "file";
	}
	name_file(l, file);
	return 0;
}

/*
 * Finds hosted-content URLs in the body HTML: everything from the Graph
 * version segment ("/v1.0/" or "/beta/") to "/$value".
 */
static int add_hosted(struct att_list *l, const char *html)
{
	static const char marker[] = "/hostedContents/";
	const char *p = html;

	while ((p = strstr(p, marker))) {
		const char *id = p + sizeof(marker) - 1;
		const char *end = strstr(id, "/$value");
		const char *start = p, *q, *ver = NULL, *tag;
		struct att *a;
		char *hid;
		int dup = 0;

		p = id;
		if (!end || end - id > 4096 ||
		    memchr(id, '"', (size_t)(end - id)))
			continue;
		while (start > html && start[-1] != '"' && start[-1] != '\'' &&
		       start[-1] != '=' && start[-1] != ' ')
			start--;
		for (q = start; q < id; q++)
			if (!strncmp(q, "/v1.0/", 6) ||
			    !strncmp(q, "/beta/", 6)) {
				ver = q + 6;
				break;
			}
		if (!ver)
			continue;
		end += 7; /* "/$value" */
		for (size_t i = 0; i < l->n; i++)
			if (l->a[i].kind == ATT_HOSTED &&
			    strlen(l->a[i].source) == (size_t)(end - ver) &&
			    !strncmp(l->a[i].source, ver, (size_t)(end - ver)))
				dup = 1;
		if (dup)
			continue;
		a = add(l);
		if (!a)
			return -ENOMEM;
		a->kind = ATT_HOSTED;
		a->source = strndup(ver, (size_t)(end - ver));
		hid = strndup(id, (size_t)(end - 7 - id));
		if (!a->source || !hid) {
			free(hid);
			return -ENOMEM;
		}
		a->id = hid;
		/* Inside an <img> it is an image; otherwise a snippet. */
		tag = start;
		while (tag > html && *tag != '<')
			tag--;
		name_it(l, hid, !strncmp(tag, "<img", 4) ? ".png" : ".txt");
	}
	return 0;
}

int attach_extract(struct json_object *msg, struct att **out, size_t *n)
{
	struct att_list l = {0};
	struct json_object *list, *body;
	const char *html;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (json_object_object_get_ex(msg, "attachments", &list) &&
	    json_object_is_type(list, json_type_array))
		for (size_t i = 0; !rc && i < json_object_array_length(list);
		     i++) {
			struct json_object *item =
				json_object_array_get_idx(list, i);
			const char *type = str_of(item, "contentType");

			if (!json_object_is_type(item, json_type_object))
				continue;
			if (type && !strcmp(type, "reference") &&
			    str_of(item, "contentUrl"))
				rc = add_reference(&l, item);
			else
				rc = add_inline(&l, item);
			if (!rc && l.n) {
				struct att *a = &l.a[l.n - 1];
				const char *id = str_of(item, "id");

				if ((type &&
				     !(a->content_type = strdup(type))) ||
				    (id && !a->id && !(a->id = strdup(id))))
					rc = -ENOMEM;
			}
		}
	if (!rc && json_object_object_get_ex(msg, "body", &body) &&
	    (html = str_of(body, "content")))
		rc = add_hosted(&l, html);
	if (rc) {
		attach_free(l.a, l.n);
		return rc;
	}
	*out = l.a;
	*n = l.n;
	return 0;
}

void attach_free(struct att *atts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(atts[i].source);
		free(atts[i].content_type);
		free(atts[i].id);
		free(atts[i].data);
	}
	free(atts);
}

char *attach_shares_path(const char *content_url, int content)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				  "qrstuvwxyz0123456789-_";
	const unsigned char *s = (const unsigned char *)content_url;
	size_t len = strlen(content_url), o = 0;
	char *out = malloc(len * 4 / 3 + 64);

	if (!out)
		return NULL;
	o += (size_t)sprintf(out, "shares/u!");
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)s[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = b64[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = b64[v & 63];
	}
	sprintf(out + o, "/driveItem%s", content ? "/content" : "");
	return out;
}
