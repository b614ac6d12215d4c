"""The tenant the emulator serves, and its on-disk forms.

A tenant is: a tenant id, a list of user objects, a list of team objects, and
for every user and team a *stream*: the messages of that scope in the order
they are served (getAllMessages pages are consecutive slices of it), including
any deliberate duplicates. Streams hold messages in the form they are served
with `Prefer: include-unknown-enum-members`; without that header a
systemEventMessage is served as unknownFutureValue.

--tenant-dir / --dump layout (all files UTF-8 JSON):

    tenant.json              {"tenantId": "..."}            (optional)
    users.json               [user, ...]      as served by GET /v1.0/users
    teams.json               [team, ...]      as served by GET /v1.0/teams
    chats/<userId>.json      [message, ...]   stream of that user's chats scope
    channels/<teamId>.json   [message, ...]   stream of that team's channels scope
    chats.json               {userId: [chat, ...]}      (optional, see directory.py)
    channels.json            {teamId: [channel, ...]}   (optional, see directory.py)
    media.json               files and hosted contents (optional, see media.py)

File names escape '%' as %25 and '/' as %2F. Streams are served verbatim: no
quirks are added to a loaded tenant (write any duplicates you want into it).
"""

import json
import os
import random
import sys
import threading

from . import directory as directory_model
from . import timeutil
from .media import Media

SYSTEM = "systemEventMessage"
UNKNOWN = "unknownFutureValue"


def file_name(ident):
    return ident.replace("%", "%25").replace("/", "%2F") + ".json"


def container_of(msg):
    """The chat id of a chat message, the channel id of a channel message, or None."""
    if not isinstance(msg, dict):
        return None
    if isinstance(msg.get("chatId"), str):
        return msg["chatId"]
    ident = msg.get("channelIdentity")
    if isinstance(ident, dict) and isinstance(ident.get("channelId"), str):
        return ident["channelId"]
    return None


def _compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Scope:
    """One getAllMessages scope prepared for serving."""

    def __init__(self, kind, ident, stream):
        self.kind = kind            # "users" or "teams"
        self.id = ident
        self.stream = stream
        self.key = "%s/%s" % (kind, ident)
        self._prepared = False
        self._lock = threading.Lock()
        self._filtered = {}

    def _prepare(self):
        with self._lock:
            if self._prepared:
                return
            self.ticks = [timeutil.message_ticks(m) for m in self.stream]
            self.json_prefer = [_compact(m) for m in self.stream]
            plain = []
            for m, text in zip(self.stream, self.json_prefer):
                if isinstance(m, dict) and m.get("messageType") == SYSTEM:
                    copy = {k: (UNKNOWN if k == "messageType" else v) for k, v in m.items()}
                    plain.append(_compact(copy))
                else:
                    plain.append(text)
            self.json_plain = plain
            self._prepared = True

    def select(self, clauses):
        """Indices into the stream that pass the filter (cached)."""
        if not self._prepared:
            self._prepare()
        if not clauses:
            return range(len(self.stream))
        with self._lock:
            hit = self._filtered.get(clauses)
        if hit is not None:
            return hit
        from .paging import matches
        hit = [i for i, t in enumerate(self.ticks) if matches(clauses, t)]
        with self._lock:
            if len(self._filtered) > 64:
                self._filtered.clear()
            self._filtered[clauses] = hit
        return hit

    def rendered(self, index, prefer):
        if not self._prepared:
            self._prepare()
        return self.json_prefer[index] if prefer else self.json_plain[index]


class Tenant:
    def __init__(self, tenant_id, users, teams, chat_streams, channel_streams, media=None,
                 seed=1, chats=None, channels=None):
        self.tenant_id = tenant_id
        self.users = users
        self.teams = teams
        self.chat_streams = chat_streams        # userId -> [message]
        self.channel_streams = channel_streams  # teamId -> [message]
        self.chats = chats if chats is not None else {}           # userId -> [chat]
        self.channels = channels if channels is not None else {}  # teamId -> [channel]
        self.media = media if media is not None else Media(seed)
        self._scopes = {}
        self._lock = threading.Lock()
        self._snapshot = None
        self._generation = 0        # bumped by every change of a stream
        self._message_keys = None

    # -- lookups -------------------------------------------------------------

    def find_user(self, key):
        k = key.lower()
        for u in self.users:
            if str(u.get("id", "")).lower() == k:
                return u
        for u in self.users:
            if str(u.get("userPrincipalName", "")).lower() == k:
                return u
        return None

    def find_team(self, key):
        k = key.lower()
        for t in self.teams:
            if str(t.get("id", "")).lower() == k:
                return t
        return None

    def streams(self, kind):
        return self.chat_streams if kind == "users" else self.channel_streams

    def all_messages(self):
        for streams in (self.chat_streams, self.channel_streams):
            for stream in list(streams.values()):
                yield from stream

    def has_message(self, container, ident):
        """Is there a message `ident` in chat or channel `container`?"""
        with self._lock:
            keys, generation = self._message_keys, self._generation
        if keys is None:
            keys = {(container_of(m), m.get("id")) for m in self.all_messages()
                    if isinstance(m, dict)}
            with self._lock:
                if self._generation == generation:
                    self._message_keys = keys
        return (container, ident) in keys

    def scan_media(self):
        """Register files and hosted contents the messages mention (media.scan)."""
        self.media.scan(self.all_messages())

    # -- live changes (live.py) --------------------------------------------------

    def set_streams(self, changes):
        """Replace some scopes' streams at once: changes is a list of
        (kind, owner id, new stream). Requests already running keep the
        Scope they started with; later ones see the new streams."""
        with self._lock:
            for kind, ident, stream in changes:
                self.streams(kind)[ident] = stream
                self._scopes.pop((kind, ident), None)
            self._snapshot = None
            self._generation += 1
            self._message_keys = None

    def scope(self, kind, ident):
        with self._lock:
            s = self._scopes.get((kind, ident))
            if s is None:
                streams = self.chat_streams if kind == "users" else self.channel_streams
                s = Scope(kind, ident, streams.get(ident, []))
                self._scopes[(kind, ident)] = s
            return s

    # -- control API -----------------------------------------------------------

    def snapshot_bytes(self):
        """GET /_emulator/tenant body (built once, again after a live change).
        Built outside the lock: hashing big files must not stall requests."""
        with self._lock:
            if self._snapshot is not None:
                return self._snapshot
            generation = self._generation
            chat = {str(u.get("id")): self.chat_streams.get(u.get("id"), []) for u in self.users}
            channel = {str(t.get("id")): self.channel_streams.get(t.get("id"), [])
                       for t in self.teams}
        media = self.media.snapshot()
        chats, channels = directory_model.snapshot(self)
        body = {
            "tenantId": self.tenant_id,
            "users": self.users,
            "teams": self.teams,
            "chatMessages": chat,
            "channelMessages": channel,
            "files": media["files"],
            "hostedContents": media["hostedContents"],
            "chats": chats,
            "channels": channels,
        }
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        with self._lock:
            if self._generation == generation:
                self._snapshot = data
        return data

    # -- samples ---------------------------------------------------------------

    def add_samples(self, chat_msgs, channel_msgs, seed):
        """Spread sample messages through the first user's and first team's
        streams at seeded positions, keeping their relative (file) order."""
        rng = random.Random("samples:%s" % seed)
        if chat_msgs:
            if not self.users:
                print("graph-emulator: warning: no users; chat samples dropped",
                      file=sys.stderr)
            else:
                uid = self.users[0].get("id")
                self.chat_streams[uid] = _merge(self.chat_streams.get(uid, []), chat_msgs, rng)
        if channel_msgs:
            if not self.teams:
                print("graph-emulator: warning: no teams; channel samples dropped",
                      file=sys.stderr)
            else:
                tid = self.teams[0].get("id")
                self.channel_streams[tid] = _merge(self.channel_streams.get(tid, []),
                                                   channel_msgs, rng)
        self.media.scan(list(chat_msgs) + list(channel_msgs))
        with self._lock:
            self._scopes.clear()
            self._snapshot = None
            self._generation += 1
            self._message_keys = None

    # -- disk ------------------------------------------------------------------

    def dump(self, directory):
        os.makedirs(os.path.join(directory, "chats"), exist_ok=True)
        os.makedirs(os.path.join(directory, "channels"), exist_ok=True)

        def write(path, obj):
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False, indent=2)
                f.write("\n")
            os.replace(tmp, path)

        write(os.path.join(directory, "tenant.json"), {"tenantId": self.tenant_id})
        write(os.path.join(directory, "users.json"), self.users)
        write(os.path.join(directory, "teams.json"), self.teams)
        for u in self.users:
            write(os.path.join(directory, "chats", file_name(u["id"])),
                  self.chat_streams.get(u["id"], []))
        for t in self.teams:
            write(os.path.join(directory, "channels", file_name(t["id"])),
                  self.channel_streams.get(t["id"], []))
        chats, channels = directory_model.lists(self)
        write(os.path.join(directory, "chats.json"), chats)
        write(os.path.join(directory, "channels.json"), channels)
        write(os.path.join(directory, "media.json"), self.media.to_json())


def _merge(stream, extra, rng):
    positions = sorted(rng.randrange(len(stream) + 1) for _ in extra)
    out = []
    j = 0
    for i, m in enumerate(stream):
        while j < len(extra) and positions[j] == i:
            out.append(extra[j])
            j += 1
        out.append(m)
    out.extend(extra[j:])
    return out


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _as_list(obj, path):
    if isinstance(obj, dict) and isinstance(obj.get("value"), list):
        obj = obj["value"]
    if not isinstance(obj, list):
        raise ValueError("%s: expected a JSON array" % path)
    return obj


def load_tenant_dir(directory, tenant_id=None, default_tenant_id=None, seed=1):
    """Read a tenant written by dump() (or by hand). tenant_id (from the
    command line) overrides tenant.json, which overrides default_tenant_id.
    media.json (optional) describes files and hosted contents; whatever the
    messages mention beyond it is registered with defaults (seeded by `seed`)."""
    meta_path = os.path.join(directory, "tenant.json")
    meta = _read_json(meta_path) if os.path.exists(meta_path) else {}
    tid = tenant_id or meta.get("tenantId") or default_tenant_id
    users = _as_list(_read_json(os.path.join(directory, "users.json")), "users.json")
    teams_path = os.path.join(directory, "teams.json")
    teams = _as_list(_read_json(teams_path), "teams.json") if os.path.exists(teams_path) else []
    chat_streams, channel_streams = {}, {}
    for u in users:
        p = os.path.join(directory, "chats", file_name(str(u.get("id"))))
        if os.path.exists(p):
            chat_streams[u.get("id")] = _as_list(_read_json(p), p)
    for t in teams:
        p = os.path.join(directory, "channels", file_name(str(t.get("id"))))
        if os.path.exists(p):
            channel_streams[t.get("id")] = _as_list(_read_json(p), p)
    media_path = os.path.join(directory, "media.json")
    media = Media.from_json(_read_json(media_path), seed) if os.path.exists(media_path) else None
    names = {}
    for what in ("chats", "channels"):
        path = os.path.join(directory, what + ".json")
        found = _read_json(path) if os.path.exists(path) else {}
        if not isinstance(found, dict) or not all(isinstance(v, list) for v in found.values()):
            raise ValueError("%s: expected a JSON object of arrays" % path)
        names[what] = found
    tenant = Tenant(tid, users, teams, chat_streams, channel_streams, media, seed,
                    names["chats"], names["channels"])
    tenant.scan_media()
    return tenant


# -- samples -------------------------------------------------------------------

def is_chat_message(obj):
    return isinstance(obj, dict) and "messageType" in obj and "body" in obj


def load_samples(directory):
    """Every chatMessage in the *.json files of `directory`, in file-name order:
    the `value` items of page bodies and whole single-message bodies. Other
    files (users, teams, chats, hosted contents, shares) are skipped. Messages
    are kept exactly as given, except that a single-message body loses its
    response-level "@odata.context" annotation.

    Returns (chat messages, channel messages, files used, files skipped).
    Messages with a chatId are chat messages; with a channelIdentity, channel
    messages; with neither, chat messages (a client files them under %nochat).
    """
    chat, channel = [], []
    used, skipped = [], []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            data = _read_json(path)
        except (OSError, ValueError) as exc:
            print("graph-emulator: warning: %s: %s" % (path, exc), file=sys.stderr)
            skipped.append(name)
            continue
        if isinstance(data, dict) and isinstance(data.get("value"), list):
            found = [m for m in data["value"] if is_chat_message(m)]
        elif is_chat_message(data):
            found = [{k: v for k, v in data.items() if k != "@odata.context"}]
        else:
            found = []
        if not found:
            skipped.append(name)
            continue
        used.append(name)
        for m in found:
            if isinstance(m.get("chatId"), str) and m.get("chatId"):
                chat.append(m)
            elif isinstance(m.get("channelIdentity"), dict):
                channel.append(m)
            else:
                chat.append(m)
    return chat, channel, used, skipped
