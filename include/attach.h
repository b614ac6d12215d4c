/*
 * attach.h - what a message carries beside its text: the files that appear
 * in its "<message>.attachments" directory.
 *
 *  - reference attachments (files in OneDrive or SharePoint): named after
 *    the attachment's name; bytes through Graph's shares API, on read;
 *  - hosted contents (inline images, snippets) found in the body HTML as
 *    ".../hostedContents/<id>/$value": named after the hosted content id;
 *    bytes from that Graph path, on read;
 *  - cards, quoted replies and other inline types: their content, as a
 *    .json file, stored at crawl time.
 *
 * Names are escaped like ids (names.h); when two attachments of a message
 * would have the same name, the later gets "~2", "~3"... before its
 * extension, which is stable since attachments keep their order.
 */
#ifndef TEAMSFS_ATTACH_H
#define TEAMSFS_ATTACH_H

#include <json-c/json.h>
#include <stddef.h>

#include "names.h"

enum att_kind {
	ATT_REFERENCE = 1,
	ATT_HOSTED = 2,
	ATT_INLINE = 3,
};

struct att {
	enum att_kind kind;
	char name[NAME_MAX_BYTES + 1];
	char *source;	    /* contentUrl, or hosted path "chats/...$value" */
	char *content_type; /* as Graph gave it, may be NULL */
	char *id;	    /* attachment or hosted content id, may be NULL */
	char *data;	    /* inline bytes (ATT_INLINE), else NULL */
	size_t len;
};

/*
 * Lists the attachments of message @msg into a malloc'd array *@out of
 * *@n entries (none: NULL and 0).  Returns 0 or -ENOMEM.
 */
int attach_extract(struct json_object *msg, struct att **out, size_t *n);

/* Frees what attach_extract() returned. */
void attach_free(struct att *atts, size_t n);

/*
 * Writes into @out the Graph path that serves the bytes of reference
 * @content_url: "shares/u!<base64url>/driveItem" (metadata) and, with
 * @content, ".../driveItem/content".  Returns a malloc'd string or NULL.
 */
char *attach_shares_path(const char *content_url, int content);

#endif
