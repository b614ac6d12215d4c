"""Graph routes for files and hosted contents (bearer auth is checked before).

  GET /v1.0/shares/{u!...}/driveItem            driveItem metadata ($select)
  GET /v1.0/shares/{u!...}/driveItem/content    302 to the download origin
  GET .../messages/{m}[/replies/{r}]/hostedContents              list
  GET .../messages/{m}[/replies/{r}]/hostedContents/{id}         one entity
  GET .../messages/{m}[/replies/{r}]/hostedContents/{id}/$value  the bytes
(... = /chats/{chatId} or /teams/{teamId}/channels/{channelId})
"""

from .downloads import download_url
from .errors import GraphError
from .media import decode_shares_id
from .routing import message_container


def not_found_item():
    return GraphError(404, "itemNotFound", "The resource could not be found.")


def shares(handler, segs, params, select):
    """segs: ['shares', id, 'driveItem'[, 'content']]."""
    low = [s.lower() for s in segs]
    if len(segs) < 3 or low[2] != "driveitem" or len(segs) > 4 or (
            len(segs) == 4 and low[3] != "content"):
        raise GraphError(400, "BadRequest",
                         "Resource not found for the segment '%s'." % segs[-1])
    if decode_shares_id(segs[1]) is None:
        raise GraphError(400, "invalidRequest",
                         "The shares id must be 'u!' followed by the unpadded base64url "
                         "encoding of the sharing URL.")
    state = handler.server.state
    entry = state.tenant.media.file_by_shares_id(segs[1])
    if entry is None or entry.status == 404:
        raise not_found_item()
    if entry.status == 403:
        raise GraphError(403, "accessDenied", "Access denied")
    if len(segs) == 4:
        url = download_url(state, entry)
        if url is None:
            raise GraphError(503, "serviceNotAvailable", "No download origin is running.")
        return handler.send_bytes(302, b"", None, {"Location": url})
    item = {"@odata.context": handler.base_url() + "/v1.0/$metadata#driveItems/$entity"}
    url = download_url(state, entry)
    if url is not None:
        item["@microsoft.graph.downloadUrl"] = url
    item.update(select(entry.drive_item(), params))
    return handler.send_json(200, item)


def hosted(handler, key, rest):
    """key: routing.message_key; rest: ['hostedContents'[, id[, '$value']]]."""
    tenant = handler.server.state.tenant
    entries = tenant.media.hosted_of(key)
    if not entries and not tenant.has_message(*message_container(key)):
        raise GraphError(404, "NotFound", "Message not found.")
    context = handler.base_url() + "/v1.0/$metadata#" + _context_path(key)
    if len(rest) == 1:
        values = [e.entity() for e in entries.values()]
        return handler.send_json(200, {"@odata.context": context, "@odata.count": len(values),
                                       "value": values})
    entry = entries.get(rest[1])
    if entry is None or len(rest) > 3 or (len(rest) == 3 and rest[2].lower() != "$value"):
        raise GraphError(404, "NotFound", "Hosted content not found.")
    if len(rest) == 3:
        return handler.send_bytes(200, entry.data, entry.content_type)
    return handler.send_json(200, dict([("@odata.context", context + "/$entity")]
                                       + list(entry.entity().items())))


def _context_path(key):
    if key[0] == "chats":
        return "chats('%s')/messages('%s')/hostedContents" % (key[1], key[2])
    path = "teams('%s')/channels('%s')/messages('%s')" % (key[1], key[2], key[3])
    if len(key) == 5:
        path += "/replies('%s')" % key[4]
    return path + "/hostedContents"
