/*
 * page.h - reading one page of a Graph collection, as received: the body
 * must be a whole, valid JSON object with a "value" array, else it is not
 * used (a cut or garbled page is fetched again, never stored).
 */
#ifndef TEAMSFS_PAGE_H
#define TEAMSFS_PAGE_H

#include <json-c/json.h>
#include <stddef.h>

/*
 * Parses the @len bytes at @body.  Returns the page (release with
 * json_object_put), or NULL if it is not a complete Graph page.
 */
struct json_object *page_parse(const char *body, size_t len);

/*
 * Returns the page's "@odata.nextLink" when it is a string, else NULL (the
 * member is absent or null on the last page).  Points into @page.
 */
const char *page_next_link(struct json_object *page);

#endif
