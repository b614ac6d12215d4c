/* page.c - parsing a Graph collection page, strictly. */
#include "page.h"

#include <limits.h>

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
