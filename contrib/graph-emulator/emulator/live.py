"""Live changes to the tenant (control API /_emulator/messages).

  add     a new message in an existing or new chat, or in a channel
  edit    new body; lastEditedDateTime = lastModifiedDateTime = now
  delete  soft delete: deletedDateTime = lastModifiedDateTime = now, empty
          body, no attachments, mentions or reactions

"now" is the wall clock in whole milliseconds, but always later than every
timestamp in the tenant and than the previous change, so that each change
is strictly newer than everything before it. New ids are that instant in
epoch milliseconds (also above every numeric id in the tenant).

A change builds new stream lists and installs them with Tenant.set_streams:
a new message is appended to the stream of every scope it belongs to; an
edited or deleted message replaces the current version (newest
lastModifiedDateTime, the later one on a tie) in place, and every other
entry with the same (container, id), stale or repeated, is dropped.
"""

import copy
import hashlib
import re
import threading
import time
import urllib.parse

from . import timeutil
from .errors import GraphError
from .tenant import container_of

MS = timeutil.TICKS_PER_MS
_NUMERIC_ID = re.compile(r"^\d{1,16}$")


def _bad(message):
    return GraphError(400, "BadRequest", message)


def _text(spec, name, required=False):
    value = spec.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _bad("'%s' must be a non-empty string." % name if required
                   else "'%s' must be a string." % name)
    return value


class LiveEditor:
    def __init__(self, tenant):
        self.tenant = tenant
        self._lock = threading.Lock()
        self._floor_ms = None     # every new instant is at least this
        self._chats_made = 0

    # -- time ----------------------------------------------------------------------

    def _initial_floor(self):
        best = 0
        for m in self.tenant.all_messages():
            if not isinstance(m, dict):
                continue
            for key in ("createdDateTime", "lastModifiedDateTime", "lastEditedDateTime",
                        "deletedDateTime"):
                t = timeutil.parse(m.get(key))
                if t is not None:
                    best = max(best, t // MS + 1)
            ident = m.get("id")
            if isinstance(ident, str) and _NUMERIC_ID.match(ident):
                best = max(best, int(ident) + 1)
        return best

    def _now_ms(self):
        if self._floor_ms is None:
            self._floor_ms = self._initial_floor()
        now = max(int(time.time() * 1000), self._floor_ms)
        self._floor_ms = now + 1
        return now

    # -- lookups -------------------------------------------------------------------------

    def _user(self, ident):
        user = self.tenant.find_user(ident) if isinstance(ident, str) else None
        if user is None:
            raise GraphError(404, "Request_ResourceNotFound", "No user '%s'." % ident)
        return user

    def _holders(self, chat_id):
        """Users whose chats scope holds chat_id, in tenant order."""
        out = []
        for u in self.tenant.users:
            stream = self.tenant.chat_streams.get(u.get("id"), [])
            if any(container_of(m) == chat_id for m in stream):
                out.append(u)
        return out

    def _identity(self, user):
        if user is None:
            return None
        return {"application": None, "device": None,
                "user": {"@odata.type": "#microsoft.graph.teamworkUserIdentity",
                         "id": user.get("id"), "displayName": user.get("displayName"),
                         "userIdentityType": "aadUser", "tenantId": self.tenant.tenant_id}}

    # -- add -------------------------------------------------------------------------------

    def add(self, spec):
        if not isinstance(spec, dict):
            raise _bad("The body must be a JSON object.")
        chat_id = _text(spec, "chatId")
        team_id = _text(spec, "teamId")
        channel_id = _text(spec, "channelId")
        reply_to = _text(spec, "replyToId")
        body = _text(spec, "body")
        content_type = _text(spec, "contentType")
        members = spec.get("members")
        if members is not None and (not isinstance(members, list) or not members
                                    or not all(isinstance(x, str) for x in members)):
            raise _bad("'members' must be a non-empty list of user ids.")
        attachments = spec.get("attachments", [])
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise _bad("'attachments' must be a list of attachment objects.")
        if (team_id is None) != (channel_id is None):
            raise _bad("A channel message needs both 'teamId' and 'channelId'.")
        if team_id is not None and (chat_id is not None or members is not None):
            raise _bad("Give either 'chatId'/'members' or 'teamId' and 'channelId'.")
        if team_id is None and chat_id is None and members is None:
            raise _bad("Give 'chatId' (and 'members' for a new chat) or 'teamId' and "
                       "'channelId'.")
        with self._lock:
            if team_id is not None:
                team = self.tenant.find_team(team_id)
                if team is None:
                    raise GraphError(404, "NotFound", "No team found with Group Id %s" % team_id)
                scopes = [("teams", team.get("id"))]
                sender = self._user(spec["from"]) if spec.get("from") else (
                    self.tenant.users[0] if self.tenant.users else None)
            else:
                users = [self._user(x) for x in members] if members else None
                holders = self._holders(chat_id) if chat_id is not None else []
                if users is None and not holders:
                    raise GraphError(404, "NotFound", "No chat '%s'; give 'members' to "
                                                      "create it." % chat_id)
                if chat_id is None:
                    chat_id = self._new_chat_id()
                users = users or holders
                scopes = [("users", u.get("id")) for u in users]
                sender = self._user(spec["from"]) if spec.get("from") else users[0]
            now = self._now_ms()
            stamp = timeutil.format_ticks(now * MS, 3)
            ident = str(now)
            if body is None:
                body = "Live message %s" % ident
            msg = {
                "@odata.type": "#microsoft.graph.chatMessage",
                "id": ident,
                "replyToId": reply_to,
                "etag": ident,
                "messageType": "message",
                "createdDateTime": stamp,
                "lastModifiedDateTime": stamp,
                "lastEditedDateTime": None,
                "deletedDateTime": None,
                "subject": None,
                "summary": None,
                "chatId": chat_id if team_id is None else None,
                "importance": "normal",
                "locale": "en-us",
                "webUrl": None,
                "channelIdentity": None,
                "policyViolation": None,
                "eventDetail": None,
                "from": self._identity(sender),
                "body": {"contentType": content_type or _guess_type(body), "content": body},
                "attachments": copy.deepcopy(attachments),
                "mentions": [],
                "reactions": [],
                "messageHistory": [],
            }
            if team_id is not None:
                msg["webUrl"] = ("https://teams.microsoft.com/l/message/%s/%s?groupId=%s"
                                 "&tenantId=%s&createdTime=%s&parentMessageId=%s" % (
                                     urllib.parse.quote(channel_id, safe=""), ident,
                                     team.get("id"), self.tenant.tenant_id, ident,
                                     reply_to or ident))
                msg["channelIdentity"] = {"teamId": team.get("id"), "channelId": channel_id}
            if attachments:
                self.tenant.media.scan([msg])   # before the snapshot can be rebuilt
            self.tenant.set_streams([(kind, owner, self.tenant.streams(kind).get(owner, []) + [msg])
                                     for kind, owner in scopes])
            return msg

    def _new_chat_id(self):
        self._chats_made += 1
        digest = hashlib.sha256(("live-chat|%s|%d" % (self.tenant.tenant_id,
                                                      self._chats_made)).encode()).hexdigest()
        return "19:%s@thread.v2" % digest[:32]

    # -- edit and delete ----------------------------------------------------------------------

    def edit(self, spec):
        body = _text(spec, "body", required=False) if isinstance(spec, dict) else None
        if body is None:
            raise _bad("'body' (the new text) is required.")
        content_type = _text(spec, "contentType")

        def change(old, stamp, ident):
            new = copy.deepcopy(old)
            kind = content_type or (old.get("body") or {}).get("contentType") or "html"
            new["body"] = {"contentType": kind, "content": body}
            new["lastEditedDateTime"] = stamp
            new["lastModifiedDateTime"] = stamp
            new["etag"] = ident
            return new

        return self._replace(spec, change)

    def delete(self, spec):
        def change(old, stamp, ident):
            new = copy.deepcopy(old)
            kind = (old.get("body") or {}).get("contentType") or "html"
            new["body"] = {"contentType": kind, "content": ""}
            new["deletedDateTime"] = stamp
            new["lastModifiedDateTime"] = stamp
            new["etag"] = ident
            new["attachments"] = []
            new["mentions"] = []
            new["reactions"] = []
            return new

        return self._replace(spec, change)

    def _replace(self, spec, change):
        if not isinstance(spec, dict):
            raise _bad("The body must be a JSON object.")
        container = _text(spec, "container", required=True)
        ident = _text(spec, "id", required=True)
        only_user = _text(spec, "userId")
        only_team = _text(spec, "teamId")
        with self._lock:
            found = []     # (kind, owner, stream, index of the current version)
            for kind in ("users", "teams"):
                for owner, stream in list(self.tenant.streams(kind).items()):
                    if (only_user and (kind != "users" or owner != only_user)) or (
                            only_team and (kind != "teams" or owner != only_team)):
                        continue
                    best = None
                    for i, m in enumerate(stream):
                        if container_of(m) == container and m.get("id") == ident:
                            t = timeutil.message_ticks(m) or 0
                            if best is None or t >= best[0]:
                                best = (t, i)
                    if best is not None:
                        found.append((kind, owner, stream, best[1]))
            if not found:
                raise GraphError(404, "NotFound", "No message '%s' in '%s'." % (ident, container))
            if any(stream[i].get("deletedDateTime") for _, _, stream, i in found):
                raise GraphError(409, "Conflict", "The message is deleted.")
            now = self._now_ms()
            stamp = timeutil.format_ticks(now * MS, 3)
            result, changes = None, []
            for kind, owner, stream, index in found:
                new = change(stream[index], stamp, str(now))
                result = result or new
                out = []
                for i, m in enumerate(stream):
                    if i == index:
                        out.append(new)
                    elif not (container_of(m) == container and m.get("id") == ident):
                        out.append(m)
                changes.append((kind, owner, out))
            self.tenant.set_streams(changes)
            return result


def _guess_type(text):
    return "html" if re.search(r"<[A-Za-z/!][^>]*>", text) else "text"
