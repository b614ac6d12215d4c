/*
 * fuzz_page.c - a Graph page as it arrives, through everything the crawl
 * does with it before storing: parse, facts, rendering, names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "names.h"
#include "page.h"
#include "render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *page = page_parse((const char *)data, size), *value;
	char name[NAME_MAX_BYTES + 1];

	if (!page)
		return 0;
	page_next_link(page);
	json_object_object_get_ex(page, "value", &value);
	for (size_t i = 0; i < json_object_array_length(value); i++) {
		struct json_object *msg = json_object_array_get_idx(value, i);
		struct message_facts f;
		size_t len;
		char *bytes;

		for (int k = 0; k < 2; k++) {
			if (render_message_facts(msg, k ? 't' : 'u', &f))
				break;
			if (f.id && name_from_id(f.id, f.id_len, ".json",
						 name) > NAME_MAX_BYTES)
				abort();
			if (f.container &&
			    name_from_id(f.container, f.container_len, "",
					 name) > NAME_MAX_BYTES)
				abort();
		}
		{
			struct att *atts;
			size_t natts;

			if (!attach_extract(msg, &atts, &natts)) {
				for (size_t k = 0; k < natts; k++)
					if (!atts[k].name[0] ||
					    strchr(atts[k].name, '/'))
						abort();
				attach_free(atts, natts);
			}
		}
		bytes = render_json(msg, &len);
		if (bytes && (len == 0 || bytes[len - 1] != '\n'))
			abort();
		free(bytes);
	}
	json_object_put(page);
	return 0;
}
