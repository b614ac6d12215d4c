"""Splitting Graph request paths into segments, shared by the route handlers."""

import re
import urllib.parse

_KEYED_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\((.*)\)$", re.DOTALL)


def split_segments(path):
    """'/users('x')/chats/getallMessages' -> ['users', 'x', 'chats', 'getallMessages'].
    Segments are percent-decoded after splitting, so an encoded '/' stays inside
    its segment; a keyed segment name('key') becomes two segments."""
    out = []
    for raw in path.split("/"):
        if raw == "":
            continue
        seg = urllib.parse.unquote(raw)
        m = _KEYED_SEGMENT.match(seg)
        if m:
            key = m.group(2)
            if len(key) >= 2 and key[0] == "'" and key[-1] == "'":
                key = key[1:-1].replace("''", "'")
            out.extend([m.group(1), key])
        else:
            out.append(seg)
    return out


def message_key(segs):
    """Segments after /v1.0 that name one chat or channel message ->
    (key, remaining segments), else None. Keys:
      ("chats", chatId, messageId)
      ("teams", teamId, channelId, messageId)                 a root post
      ("teams", teamId, channelId, rootId, replyId)           a reply
    """
    low = [s.lower() for s in segs]
    if len(segs) >= 4 and low[0] == "chats" and low[2] == "messages":
        return ("chats", segs[1], segs[3]), segs[4:]
    if len(segs) >= 6 and low[0] == "teams" and low[2] == "channels" and low[4] == "messages":
        if len(segs) >= 8 and low[6] == "replies":
            return ("teams", segs[1], segs[3], segs[5], segs[7]), segs[8:]
        return ("teams", segs[1], segs[3], segs[5]), segs[6:]
    return None


def message_container(key):
    """(container id, message id) of a message key from message_key()."""
    if key[0] == "chats":
        return key[1], key[2]
    return key[2], key[-1]
