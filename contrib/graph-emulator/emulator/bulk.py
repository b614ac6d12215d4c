"""A large synthetic tenant for benchmarks (--bulk-messages N).

Nothing is held per message: the tenant is a list of chats and channels, each
with a message count, a start time and a step, and a message is rendered
when a page asks for it, from a compact JSON template filled in with `%`. A
scope's stream is its containers' messages one container after the other, so
index -> (container, k) is a bisect over prefix sums. Memory stays a few MB
whatever N is, and a page of 50 costs well under a millisecond to render.

Layout for N distinct messages (deterministic for --seed):

  * 6 users (GUID ids) and 4 teams of 5 channels each; users 0-3 hold
    100,000+ messages each at N = 1,000,000;
  * one 1:1 chat of N/10 messages between users 0 and 1 (so it is in both
    scopes: a chat exported under two members);
  * channels: N/10 messages, every 4th a root post, the others replies to it;
  * group chats of 3 tenant members: 6 % of N, one group chat per 1,000;
  * 1:1 chats with people of another tenant (in one scope each): the rest,
    one chat per 250 messages (thousands of chats at N = 1,000,000);
  * chat sizes are log-normal; bodies are 40 to 4,000 bytes (median ~150),
    html or text, mostly English with some other scripts and emoji; every
    11th message is edited (lastEditedDateTime, lastModified later);
  * the word RARE_WORD is in the middle message of every 97th container.

Message ids are epoch milliseconds (strings); within a container, time grows
with k, so a $filter on lastModifiedDateTime selects one slice of each
container. GET /_emulator/tenant gives a summary (counts, the big chat, byte
totals) rather than every message. Live changes (/_emulator/messages) and
hosted contents are not supported in this mode.
"""

import bisect
import hashlib
import json
import random
import time
import uuid

from . import directory as directory_model
from . import paging
from . import timeutil
from .tenant import Tenant

RARE_WORD = "xylocarpous"
T0_MS = 1704067200000                   # 2024-01-01T00:00:00Z
SPAN_MS = 2 * 365 * 86400 * 1000        # to the end of 2025
TICKS_PER_MS = timeutil.TICKS_PER_SECOND // 1000
_EPOCH_TICKS = timeutil.ticks(1970, 1, 1)

USER_NAMES = [("Adele", "Vance"), ("Alex", "Wilber"), ("Diego", "Siciliani"),
              ("Grady", "Archie"), ("Isaiah", "Langer"), ("Johanna", "Lorenz")]
USER_WEIGHTS = [3, 3, 2, 2, 1, 1]       # share of the external 1:1 chats
TEAM_NAMES = ["Mark 8 Project", "Retail", "Sales and Marketing", "Finance"]
CHANNEL_NAMES = ["General", "Design", "Launch", "Budget", "Random"]
EXTERNAL_TENANT = "5c3a8b1e-2d4f-4a6b-9c8d-7e6f5a4b3c2d"

_WORDS = ("the a we on for review plan budget launch design meeting sprint notes draft "
          "customer release update deadline team deck slides feedback quarterly numbers "
          "roadmap shipping invoice contract vendor agenda tomorrow today friday please "
          "thanks could you check the latest version of attached file before our call "
          "looks good to me let's sync later about this issue with the build and tests").split()
_EXTRA = ["Привет, как дела с отчётом?", "Καλημέρα σε όλους", "مرحبا بالجميع",
          "会議は明日の午後三時からです", "שלום לכולם", "👍🏽 🎉 👨‍👩‍👧‍👦 🇯🇵"]


def _h(*parts):
    d = hashlib.blake2b("|".join(str(p) for p in parts).encode("utf-8"), digest_size=8)
    return int.from_bytes(d.digest(), "big")


def _guid(*parts):
    d = hashlib.blake2b("|".join(str(p) for p in parts).encode("utf-8"), digest_size=16)
    return str(uuid.UUID(bytes=d.digest(), version=4))


def _hex32(*parts):
    return hashlib.blake2b("|".join(str(p) for p in parts).encode("utf-8"),
                           digest_size=16).hexdigest()


def _bodies(rng, count=512):
    """Pre-escaped body JSON pairs (contentType, content literal)."""
    out = []
    for i in range(count):
        n = max(40, min(4000, int(rng.lognormvariate(5.0, 0.9))))
        words = []
        size = 0
        while size < n:
            w = rng.choice(_WORDS)
            words.append(w)
            size += len(w) + 1
        if i % 9 == 0:
            words.append(rng.choice(_EXTRA))
        text = " ".join(words)
        text = text[0].upper() + text[1:] + "."
        if i % 3 == 0:
            out.append(("text", json.dumps(text, ensure_ascii=False)))
        else:
            out.append(("html", json.dumps("<p>%s</p>" % text, ensure_ascii=False)))
    return out


def _sizes(rng, total, count, sigma=1.0):
    """`count` positive sizes summing to `total`, log-normally spread."""
    if count <= 0:
        return []
    count = min(count, total)
    w = [rng.lognormvariate(0.0, sigma) for _ in range(count)]
    s = sum(w)
    sizes = [max(1, int(total * x / s)) for x in w]
    diff = total - sum(sizes)
    i = 0
    while diff != 0:
        j = i % count
        if diff > 0:
            sizes[j] += 1
            diff -= 1
        elif sizes[j] > 1:
            sizes[j] -= 1
            diff += 1
        i += 1
    return sizes


def _iso(ms):
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour,
                                                    t.tm_min, t.tm_sec, ms % 1000)


def _ticks(ms):
    return _EPOCH_TICKS + ms * TICKS_PER_MS


_CHAT_HEAD = ('{"@odata.type":"#microsoft.graph.chatMessage","id":"%s","replyToId":null,'
              '"etag":"%s","messageType":"message","createdDateTime":"%s",'
              '"lastModifiedDateTime":"%s","lastEditedDateTime":%s,"deletedDateTime":null,'
              '"subject":null,"summary":null,"chatId":')
_CHAN_HEAD = ('{"@odata.type":"#microsoft.graph.chatMessage","id":"%s","replyToId":%s,'
              '"etag":"%s","messageType":"message","createdDateTime":"%s",'
              '"lastModifiedDateTime":"%s","lastEditedDateTime":%s,"deletedDateTime":null,'
              '"subject":%s,"summary":null,"chatId":null,"importance":"normal",'
              '"locale":"en-us","webUrl":"https://teams.microsoft.com/l/message/')
_TAIL = ('"body":{"contentType":"%s","content":%s},"attachments":[],"mentions":[],'
         '"reactions":[],"messageHistory":[]}')


def _from(uid, name, tenant_id):
    return ('"from":{"application":null,"device":null,"user":{"@odata.type":'
            '"#microsoft.graph.teamworkUserIdentity","id":%s,"displayName":%s,'
            '"userIdentityType":"aadUser","tenantId":"%s"}},'
            % (json.dumps(uid), json.dumps(name, ensure_ascii=False), tenant_id))


class Container:
    """One chat or channel: `count` messages, message k created at
    start + k * step milliseconds."""

    __slots__ = ("index", "id", "kind", "count", "start", "step", "senders", "mid",
                 "team", "rare")

    def __init__(self, index, ident, kind, count, start, step, senders, team=None):
        self.index = index
        self.id = ident
        self.kind = kind            # "chat" or "channel"
        self.count = count
        self.start = start
        self.step = step
        self.senders = senders      # pre-rendered "from" members
        self.team = team
        self.rare = index % 97 == 5
        if kind == "chat":
            self.mid = ('%s,"importance":"normal","locale":"en-us","webUrl":null,'
                        '"channelIdentity":null,"policyViolation":null,"eventDetail":null,'
                        % json.dumps(ident))
        else:
            self.mid = ident    # completed per message (webUrl has the id)

    def created_ms(self, k):
        return self.start + k * self.step

    def modified_ms(self, k):
        c = self.start + k * self.step
        return c + self.step // 2 if k % 11 == 5 else c

    def ticks(self, k):
        return _ticks(self.modified_ms(k))


class Bulk:
    def __init__(self, n, seed, tenant_id):
        if n < 100:
            raise ValueError("--bulk-messages must be at least 100")
        rng = random.Random("bulk:%s" % seed)
        self.n = n
        self.tenant_id = tenant_id
        self.bodies = _bodies(rng)
        self.rare_body = ("text", json.dumps(
            "Note for the auditors: the %s clause is in section 4." % RARE_WORD))
        self.users = []
        for i, (given, sur) in enumerate(USER_NAMES):
            uid = _guid("bulk-user", seed, i)
            upn = "%s.%s@contoso.onmicrosoft.com" % (given.lower(), sur.lower())
            self.users.append({"id": uid, "displayName": "%s %s" % (given, sur),
                               "userPrincipalName": upn, "mail": upn,
                               "givenName": given, "surname": sur})
        self.teams = []
        for i, name in enumerate(TEAM_NAMES):
            self.teams.append({"id": _guid("bulk-team", seed, i), "displayName": name,
                               "description": "%s team" % name, "visibility": "private",
                               "isArchived": False, "tenantId": tenant_id})
        self.froms = [_from(u["id"], u["displayName"], tenant_id) for u in self.users]
        self.containers = []
        self.user_scopes = [[] for _ in self.users]     # container indices
        self.team_scopes = [[] for _ in self.teams]
        self.chat_members = {}                          # container index -> [user idx]
        self.external = {}                              # container index -> (id, name)

        big = n // 10
        channels = n // 10
        group = n * 6 // 100
        ext = n - big - channels - group

        # The big 1:1 chat of users 0 and 1.
        u0, u1 = self.users[0]["id"], self.users[1]["id"]
        self.big_chat = "19:%s_%s@unq.gbl.spaces" % tuple(sorted((u0, u1)))
        self._add_chat(self.big_chat, big, [0, 1], [self.froms[0], self.froms[1]], rng)
        # Channels.
        nchan = len(self.teams) * len(CHANNEL_NAMES)
        self.channel_names = {}
        for size, j in zip(_sizes(rng, channels, nchan, 0.7), range(nchan)):
            t = j // len(CHANNEL_NAMES)
            cid = "19:%s@thread.tacv2" % _hex32("bulk-channel", seed, j)
            senders = [self.froms[(t + x) % len(self.users)] for x in range(4)]
            c = self._container(cid, "channel", size, senders, rng, team=t)
            self.team_scopes[t].append(c.index)
            self.channel_names[c.index] = CHANNEL_NAMES[j % len(CHANNEL_NAMES)]
        # Group chats of three members.
        ngroup = max(1, group // 1000)
        for size in _sizes(rng, group, ngroup):
            members = rng.sample(range(len(self.users)), 3)
            cid = "19:%s@thread.v2" % _hex32("bulk-group", seed, len(self.containers))
            self._add_chat(cid, size, members, [self.froms[m] for m in members], rng)
        # 1:1 chats with people from another tenant.
        next_ext = 0
        wsum = sum(USER_WEIGHTS)
        for u, w in enumerate(USER_WEIGHTS):
            share = ext * w // wsum if u < len(USER_WEIGHTS) - 1 else \
                ext - sum(ext * x // wsum for x in USER_WEIGHTS[:-1])
            if share <= 0:
                continue
            for size in _sizes(rng, share, max(1, share // 250), 1.2):
                other = _guid("bulk-external", seed, next_ext)
                name = "%s %s" % (rng.choice(directory_model.EXTERNAL_GIVEN),
                                  rng.choice(directory_model.EXTERNAL_SURNAME))
                next_ext += 1
                cid = "19:%s_%s@unq.gbl.spaces" % tuple(sorted((self.users[u]["id"], other)))
                idx = self._add_chat(cid, size, [u],
                                     [self.froms[u], _from(other, name, EXTERNAL_TENANT)], rng)
                self.external[idx] = (other, name)

        self.scopes = {}
        for u, user in enumerate(self.users):
            self.scopes[("users", user["id"])] = [self.containers[i]
                                                  for i in self.user_scopes[u]]
        for t, team in enumerate(self.teams):
            self.scopes[("teams", team["id"])] = [self.containers[i]
                                                  for i in self.team_scopes[t]]

    def _container(self, ident, kind, count, senders, rng, team=None):
        step = max(1, SPAN_MS // max(1, count))
        start = T0_MS + rng.randrange(max(1, SPAN_MS - step * count + 1))
        c = Container(len(self.containers), ident, kind, count, start, step, senders, team)
        self.containers.append(c)
        return c

    def _add_chat(self, ident, count, members, senders, rng):
        c = self._container(ident, "chat", count, senders, rng)
        self.chat_members[c.index] = members
        for m in members:
            self.user_scopes[m].append(c.index)
        return c.index

    # -- rendering ---------------------------------------------------------------

    def render(self, c, k):
        cms = c.start + k * c.step
        edited = k % 11 == 5
        mms = cms + c.step // 2 if edited else cms
        mid = str(cms)
        created = _iso(cms)
        modified = _iso(mms) if edited else created
        h = (c.index * 2654435761 + k * 40503) & 0xFFFFFFFF
        if c.rare and k == c.count // 2:
            ctype, content = self.rare_body
        else:
            ctype, content = self.bodies[h % len(self.bodies)]
        sender = c.senders[(h >> 9) % len(c.senders)]
        if c.kind == "chat":
            head = _CHAT_HEAD % (mid, mid, created, modified,
                                 '"%s"' % modified if edited else "null")
            return "".join((head, c.mid, sender, _TAIL % (ctype, content)))
        root = k - k % 4
        reply = '"%d"' % c.created_ms(root) if k != root else "null"
        subject = '"Update %d"' % k if k == root and k % 8 == 0 else "null"
        head = _CHAN_HEAD % (mid, reply, mid, created, modified,
                             '"%s"' % modified if edited else "null", subject)
        team = self.teams[c.team]["id"]
        return "".join((
            head, c.id, "/", mid, "?groupId=", team, "&tenantId=", self.tenant_id,
            '","channelIdentity":{"teamId":"', team, '","channelId":"', c.id,
            '"},"policyViolation":null,"eventDetail":null,', sender,
            _TAIL % (ctype, content)))

    # -- directory objects ------------------------------------------------------

    def chat_lists(self):
        out = {}
        for u, user in enumerate(self.users):
            chats = []
            for i in self.user_scopes[u]:
                c = self.containers[i]
                members = [directory_model.user_member(c.id, self.users[m], self.tenant_id)
                           for m in self.chat_members[i]]
                if i in self.external:
                    other, name = self.external[i]
                    members.append(directory_model.member(c.id, other, name, None,
                                                          EXTERNAL_TENANT))
                first = directory_model.graph_time(_ticks(c.created_ms(0)))
                last = directory_model.graph_time(_ticks(c.created_ms(c.count - 1)))
                kind = directory_model.chat_type_of(c.id)
                topic = None if kind == "oneOnOne" else "Group %d" % i
                chats.append(directory_model.chat_object(c.id, topic, first, last, kind,
                                                         self.tenant_id, None, last, members))
            out[user["id"]] = chats
        return out

    def channel_lists(self):
        out = {}
        for t, team in enumerate(self.teams):
            chans = []
            for i in self.team_scopes[t]:
                c = self.containers[i]
                created = directory_model.graph_time(_ticks(c.created_ms(0)))
                chans.append(directory_model.channel_object(
                    team["id"], c.id, created, self.channel_names[i], None, "standard",
                    self.tenant_id, None))
            out[team["id"]] = chans
        return out

    # -- summary ------------------------------------------------------------------

    def summary(self, with_bytes=True):
        served = sum(c.count for cs in self.scopes.values() for c in cs)
        per_scope = {}
        for (kind, ident), cs in self.scopes.items():
            per_scope["%s/%s" % (kind, ident)] = sum(c.count for c in cs)
        out = {
            "bulk": True,
            "tenantId": self.tenant_id,
            "users": self.users,
            "teams": self.teams,
            "messagesUnique": sum(c.count for c in self.containers),
            "messagesServed": served,
            "scopeMessages": per_scope,
            "chats": sum(1 for c in self.containers if c.kind == "chat"),
            "channels": sum(1 for c in self.containers if c.kind == "channel"),
            "bigChat": {"userId": self.users[0]["id"], "otherUserId": self.users[1]["id"],
                        "chatId": self.big_chat, "messages": self.containers[0].count},
            "rareWord": RARE_WORD,
            "rareServed": sum(1 for cs in self.scopes.values() for c in cs if c.rare),
        }
        if with_bytes:
            unique = 0
            per = {}
            for c in self.containers:
                size = 0
                for k in range(c.count):
                    size += len(self.render(c, k).encode("utf-8"))
                per[c.index] = size
                unique += size
            out["rawJsonBytesUnique"] = unique
            out["rawJsonBytesServed"] = sum(per[c.index] for cs in self.scopes.values()
                                            for c in cs)
        return out


class Ranges:
    """A read-only sequence of scope indices made of (start, length) runs."""

    def __init__(self, runs):
        self.runs = runs
        self.starts = []
        total = 0
        for _, length in runs:
            self.starts.append(total)
            total += length
        self.total = total

    def __len__(self):
        return self.total

    def __getitem__(self, i):
        if i < 0 or i >= self.total:
            raise IndexError(i)
        j = bisect.bisect_right(self.starts, i) - 1
        return self.runs[j][0] + (i - self.starts[j])


class BulkScope:
    """What server.all_messages needs of a scope: key, id, select, rendered."""

    def __init__(self, bulk, kind, ident, containers):
        self.bulk = bulk
        self.kind = kind
        self.id = ident
        self.key = "%s/%s" % (kind, ident)
        self.containers = containers
        self.starts = []
        total = 0
        for c in containers:
            self.starts.append(total)
            total += c.count
        self.total = total
        self.stream = ()        # no per-message list in this mode

    def select(self, clauses):
        if not clauses:
            return range(self.total)
        runs = []
        for start, c in zip(self.starts, self.containers):
            # Times grow with k: the matching k form one slice; find its ends.
            lo = _first(c.count, lambda k: _passes_low(clauses, c.ticks(k)))
            hi = _first(c.count, lambda k: not _passes_high(clauses, c.ticks(k)))
            if hi > lo:
                runs.append((start + lo, hi - lo))
        return Ranges(runs)

    def rendered(self, index, prefer):
        j = bisect.bisect_right(self.starts, index) - 1
        c = self.containers[j]
        return self.bulk.render(c, index - self.starts[j])


def _passes_low(clauses, t):
    return all(paging.matches(((op, v),), t) for op, v in clauses if op in ("gt", "ge"))


def _passes_high(clauses, t):
    return all(paging.matches(((op, v),), t) for op, v in clauses if op in ("lt", "le"))


def _first(n, pred):
    """Smallest k in [0, n] with pred(k) true (pred monotone false..true)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class BulkTenant(Tenant):
    """A Tenant whose scopes are rendered on demand (see the module doc)."""

    def __init__(self, n, seed, tenant_id):
        self.bulk = Bulk(n, seed, tenant_id)
        super().__init__(tenant_id, self.bulk.users, self.bulk.teams, {}, {}, None, seed,
                         self.bulk.chat_lists(), self.bulk.channel_lists())
        self._bulk_scopes = {}
        self._summary = None

    def scope(self, kind, ident):
        with self._lock:
            s = self._bulk_scopes.get((kind, ident))
            if s is None:
                s = BulkScope(self.bulk, kind, ident, self.bulk.scopes.get((kind, ident), []))
                self._bulk_scopes[(kind, ident)] = s
            return s

    def has_message(self, container, ident):
        return False

    def snapshot_bytes(self):
        with self._lock:
            if self._summary is not None:
                return self._summary
        data = json.dumps(self.bulk.summary(), ensure_ascii=False).encode("utf-8")
        with self._lock:
            self._summary = data
        return data

    def add_samples(self, chat_msgs, channel_msgs, seed):
        raise ValueError("--samples cannot be combined with --bulk-messages")

    def dump(self, directory):
        raise ValueError("--dump cannot be combined with --bulk-messages")


def no_delay(server):
    """Answer without Nagle's delay: the handlers write the head and the body
    separately, and with Nagle on, the body's last segment waits for the
    client's delayed ACK of the head (~40 ms a request on Linux), which would
    cap a benchmark crawl at about 25 pages/s per connection."""
    import socket
    accept = server.get_request

    def get_request():
        sock, addr = accept()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return sock, addr

    server.get_request = get_request
