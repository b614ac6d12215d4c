"""The deterministic sample tenant.

Everything comes from one random.Random seeded with --seed, so a seed always
yields the same users, teams, chats and messages (tokens and request ids are
the only random things the emulator does not derive from the seed).

What the generated tenant contains (scale 1):
  * 8 users with GUID ids; the last one (Lee Gu) has no chats at all.
  * 3 teams with 2-3 channels each (19:<32 hex>@thread.tacv2); root posts with
    flat replies (replyToId = the root's id); channel system events.
  * 1:1 chats (19:<idA>_<idB>@unq.gbl.spaces), group chats
    (19:<32 hex>@thread.v2), a meeting chat (19:meeting_<base64>@thread.v2) and
    every user's self chat 48:notes (one chat id for all users, with ids that
    overlap between users).
  * The first user's scope has 1,000+ messages: a long 1:1 chat and a long
    group chat ("Project Falcon", the first user's first group chat, which
    holds the phrase "quarterly compliance review").
  * Edited messages (lastEditedDateTime, lastModified > created), deleted
    messages (deletedDateTime, empty body; and one with an empty body but a
    null deletedDateTime), system events (from null, <systemEventMessage/>,
    eventDetail), application senders (from.application), mentions, reactions
    with messageHistory, file and quoted-reply attachments, adaptive cards, a
    DLP policyViolation, bodies in six scripts with emoji, an unknown future
    field, a chat message with chatId null and a channel reply with
    channelIdentity null.
  * Odd message ids: one containing '/', one containing '%', one of 300
    characters (with a multi-byte character across byte 233), and the same id
    used in two different chats (and two channels) of one scope.
  * Timestamps with 0 to 7 fractional digits; ids are epoch milliseconds.
  * Attachments of every kind, hosted images and code snippets, added last by
    attachgen.py with a random stream of its own (see there).
  * Chat and channel objects (topics, names, members) and the guest user, made
    by directory.generated() after every message, again with a random stream
    of their own (CURRENT_TOPICS, CURRENT_CHANNELS below).

Streams (serving order) interleave runs of each container's messages and add,
per scope, exact repeats of a few messages further on, and stale versions of a
few edited messages (an older lastModifiedDateTime and the pre-edit body)
either well before or well after the newest version.
"""

import base64
import copy
import json
import math
import random
import urllib.parse
import uuid

from . import attachgen
from . import corpus
from . import directory
from . import timeutil
from .media import Media
from .tenant import Tenant

T = timeutil.TICKS_PER_SECOND
MS = timeutil.TICKS_PER_MS
MINUTE = 60 * T
HOUR = 60 * MINUTE
DAY = 24 * HOUR

PHRASE = "quarterly compliance review"

# given name, surname, UPN local part, script, job title, office, language
PROFILES = [
    ("Adele", "Vance", "adele.vance", "latin", "Product Manager", "18/2111", "en-US"),
    ("Алексей", "Смирнов", "aleksei.smirnov", "cyrillic", "Developer", "Москва 4.12", "ru-RU"),
    ("Νίκη", "Παπαδοπούλου", "niki.papadopoulou", "greek", "Designer", "Athens 2", "el-GR"),
    ("ليلى", "حداد", "layla.haddad", "arabic", "Finance Analyst", "Dubai 7", "ar-AE"),
    ("芳", "王", "fang.wang", "cjk", "Engineer", "上海 12F", "zh-CN"),
    ("נועה", "לוי", "noa.levi", "hebrew", "Legal Counsel", "Tel Aviv 3", "he-IL"),
    ("Megan", "Bowen", "megan.bowen", "latin", "Marketing Manager", "12/1110", "en-US"),
    ("Lee", "Gu", "lee.gu", "latin", "Director", "23/3101", "en-US"),
]
NO_CHATS_USER = 7

TEAMS = [
    ("Contoso Finance", "Budgets, audits and reporting",
     [("General", 22), ("Audits", 16), ("Reporting", 14)], [0, 1, 3, 5, 6]),
    ("Mark 8 Project Team", "Product development for the Mark 8 device",
     [("General", 26), ("Design", 18)], [0, 2, 4, 6, 7]),
    ("Международный отдел", "Global team 🌍 国际团队",
     [("General", 12), ("日本語チャンネル", 10), ("Ελληνικά", 10)], [1, 2, 3, 4, 5]),
]

# kind, members (profile indexes), message count at scale 1, topic
CHATS = [
    ("oneOnOne", [0, 1], 520, None),
    ("group", [0, 1, 2, 3], 430, "Project Falcon"),
    ("oneOnOne", [0, 2], 40, None),
    ("group", [0, 4, 5], 45, "Lunch crew 🍜"),
    ("meeting", [0, 1, 4, 5], 30, "Design review"),
    ("oneOnOne", [0, 6], 20, None),
    ("oneOnOne", [1, 3], 35, None),
    ("oneOnOne", [2, 4], 25, None),
    ("oneOnOne", [3, 5], 25, None),
    ("oneOnOne", [4, 6], 20, None),
    ("group", [1, 2, 5, 6], 60, "Проект «Север»"),
]
# Current topics served by GET /users/{id}/chats where they differ from the
# topic the chatRenamed event in the history names (renamed again since).
CURRENT_TOPICS = {3: "Lunch crew 🍜 / 午饭", 10: "Project Falcon"}
# Current channel names (GET /teams/{id}/allChannels) where they differ from
# the name in the channelAdded event: (team index, channel index) -> (name, type).
CURRENT_CHANNELS = {(0, 2): ("audits", "private"), (1, 1): ("Design/UX", "shared")}

BIG_ONE_ON_ONE = 0
FIRST_GROUP = 1
ODD_IDS_CHAT = 3
MEETING_CHAT = 4
OTHER_ONE_ON_ONE = 6
NOCHAT_CHAT = 9

BASE = timeutil.ticks(2024, 1, 8, 8, 0, 0)

# fractional digit counts and their weights
DIGITS = [0, 1, 2, 3, 4, 5, 6, 7]
DIGIT_WEIGHTS = [8, 5, 7, 55, 4, 4, 5, 12]


class Container:
    def __init__(self, kind, ident, members, topic=None, team=None, name=None):
        self.kind = kind            # oneOnOne, group, meeting, notes, channel
        self.id = ident
        self.members = members      # user indexes
        self.topic = topic
        self.team = team            # team dict for channels
        self.name = name
        self.messages = []


class Generator:
    def __init__(self, seed, scale, tenant_id, large_files=False):
        self.rng = random.Random(seed)
        self.seed = seed
        self.large_files = large_files
        self.scale = scale
        self.tid = tenant_id
        self.stale = {}     # id(message) -> older version of that message
        self.apps = [(name, kind, self.guid(), self.guid()) for name, kind in corpus.APPS]

    # -- small helpers ---------------------------------------------------------

    def guid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex32(self):
        return "%032x" % self.rng.getrandbits(128)

    def digits(self):
        return self.rng.choices(DIGITS, DIGIT_WEIGHTS)[0]

    def fmt(self, t):
        return timeutil.format_ticks(t, self.digits())

    def count(self, n):
        # Never fewer than 12, so the special messages always find a place.
        return max(12, int(math.ceil(n * self.scale)))

    def gap(self):
        r = self.rng.random()
        if r < 0.70:
            return self.rng.randrange(5 * T, 20 * MINUTE)
        if r < 0.95:
            return self.rng.randrange(20 * MINUTE, DAY)
        return self.rng.randrange(DAY, 5 * DAY)

    # -- people ------------------------------------------------------------------

    def make_users(self):
        users = []
        for i, (given, surname, local, script, job, office, lang) in enumerate(PROFILES):
            display = surname + given if script == "cjk" else given + " " + surname
            upn = "%s@contoso.onmicrosoft.com" % local
            users.append({
                "businessPhones": ["+1 425 555 01%02d" % (10 + i)] if i % 3 else [],
                "displayName": display,
                "givenName": given,
                "jobTitle": job,
                "mail": upn,
                "mobilePhone": None if i % 2 else "+1 206 555 02%02d" % (10 + i),
                "officeLocation": office,
                "preferredLanguage": lang,
                "surname": surname,
                "userPrincipalName": upn,
                "id": self.guid(),
            })
        self.users = users
        self.scripts = [p[3] for p in PROFILES]

    def user_identity(self, u, with_name=True, style=None):
        user = self.users[u]
        if style is None:
            style = self.rng.random() < 0.5
        if style:
            return {
                "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                "id": user["id"],
                "displayName": user["displayName"] if with_name else None,
                "userIdentityType": "aadUser",
                "tenantId": self.tid,
            }
        return {
            "id": user["id"],
            "displayName": user["displayName"] if with_name else None,
            "userIdentityType": "aadUser",
        }

    def from_user(self, u):
        style = self.rng.random() < 0.5
        ident = {"application": None, "device": None}
        if style:
            ident["conversation"] = None
        ident["user"] = self.user_identity(u, style=style)
        return ident

    def initiator(self, u):
        return {"application": None, "device": None,
                "user": self.user_identity(u, with_name=False, style=False)}

    # -- bodies --------------------------------------------------------------------

    def sentences(self, script, n):
        pool = corpus.SCRIPTS[script]
        return [self.rng.choice(pool) for _ in range(n)]

    @staticmethod
    def esc(text):
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def emoji_suffix(self):
        r = self.rng.random()
        if r < 0.35:
            return " " + self.rng.choice(corpus.EMOJI)
        if r < 0.50:
            eid, alt, title = self.rng.choice(corpus.TEAMS_EMOJI)
            return ' <emoji id="%s" alt="%s" title="%s"></emoji>' % (eid, alt, title)
        return ""

    def html_body(self, script, prefix=""):
        s = [self.esc(x) for x in self.sentences(script, self.rng.randint(1, 3))]
        s[0] = prefix + s[0]
        s[-1] += self.emoji_suffix()
        style = self.rng.randrange(8)
        rtl = ' dir="rtl"' if script in ("arabic", "hebrew") and self.rng.random() < 0.5 else ""
        if style == 0:
            return "<p%s>%s</p>" % (rtl, " ".join(s))
        if style == 1:
            return "<div><div>%s</div></div>" % "<br>".join(s)
        if style == 2:
            return '<div itemprop="copy-paste-block">%s</div>' % "&nbsp;".join(s)
        if style == 3:
            return "".join("<p%s>%s</p>" % (rtl, x) for x in s)
        if style == 4 and len(s) > 1:
            return "<p>%s</p><ul>%s</ul>" % (s[0], "".join("<li>%s</li>" % x for x in s[1:]))
        if style == 5:
            return "<p><b>%s</b> %s</p>" % (s[0], " ".join(s[1:]))
        if style == 6:
            return ('<p>%s <a href="https://contoso.sharepoint.com/sites/Wiki/Pages/Home.aspx" '
                    'rel="noreferrer noopener" target="_blank" title="Wiki">Wiki</a></p>'
                    % " ".join(s))
        return "<p>%s</p>" % " ".join(s)

    def text_body(self, script):
        s = self.sentences(script, self.rng.randint(1, 2))
        return " ".join(s) + (" " + self.rng.choice(corpus.EMOJI) if self.rng.random() < 0.3 else "")

    def script_for(self, u):
        if self.rng.random() < 0.7:
            return self.scripts[u]
        return self.rng.choice(list(corpus.SCRIPTS))

    # -- message skeleton ----------------------------------------------------------

    def skeleton(self, c, ident, created, created_s, reply_to=None, root_id=None):
        m = {"@odata.type": "#microsoft.graph.chatMessage"}
        m["id"] = ident
        m["replyToId"] = reply_to
        m["etag"] = str(created // MS)
        m["messageType"] = "message"
        m["createdDateTime"] = created_s
        m["lastModifiedDateTime"] = created_s
        m["lastEditedDateTime"] = None
        m["deletedDateTime"] = None
        m["subject"] = None
        m["summary"] = None
        m["chatId"] = None if c.kind == "channel" else c.id
        m["importance"] = "normal"
        m["locale"] = "en-us"
        if c.kind == "channel":
            m["webUrl"] = ("https://teams.microsoft.com/l/message/%s/%s?groupId=%s&tenantId=%s"
                           "&createdTime=%s&parentMessageId=%s" % (
                               urllib.parse.quote(c.id, safe=""), ident, c.team["id"], self.tid,
                               created // MS, root_id or ident))
            m["channelIdentity"] = {"teamId": c.team["id"], "channelId": c.id}
        else:
            m["webUrl"] = None
            m["channelIdentity"] = None
        if self.rng.random() < 0.3:
            m["onBehalfOf"] = None
        m["policyViolation"] = None
        m["eventDetail"] = None
        m["from"] = None
        m["body"] = {"contentType": "html", "content": ""}
        m["attachments"] = []
        m["mentions"] = []
        m["reactions"] = []
        m["messageHistory"] = []
        return m

    def touch(self, m, t):
        """Move lastModifiedDateTime (and the etag) forward to t."""
        m["lastModifiedDateTime"] = self.fmt(t)
        m["etag"] = str(t // MS)

    # -- message kinds -----------------------------------------------------------------

    def user_message(self, c, ident, created, sender, reply_to=None, root_id=None,
                     allow_edit=True, allow_delete=True, text=None):
        rng = self.rng
        m = self.skeleton(c, ident, created, self.fmt(created), reply_to, root_id)
        m["from"] = self.from_user(sender)
        script = self.script_for(sender)
        prefix = ""
        others = [u for u in c.members if u != sender]
        if text is None and others and c.kind in ("group", "meeting", "channel") and rng.random() < 0.12:
            target = rng.choice(others)
            name = self.users[target]["displayName"]
            prefix = '<at id="0">%s</at> ' % self.esc(name)
            m["mentions"] = [{
                "id": 0,
                "mentionText": name,
                "mentioned": {"application": None, "device": None, "conversation": None,
                              "tag": None, "user": self.user_identity(target)},
            }]
        if text is not None:
            m["body"] = {"contentType": "html", "content": text}
        elif not prefix and rng.random() < 0.15:
            m["body"] = {"contentType": "text", "content": self.text_body(script)}
        else:
            m["body"] = {"contentType": "html", "content": self.html_body(script, prefix)}
        if reply_to is None and c.kind == "channel" and rng.random() < 0.4:
            m["subject"] = rng.choice(corpus.CHANNEL_SUBJECTS)
        r = rng.random()
        if r < 0.03:
            m["importance"] = "high"
        elif r < 0.04:
            m["importance"] = "urgent"
        last = created
        older = None
        # edits: keep the version before the edit for stale duplicates
        if allow_edit and rng.random() < 0.08:
            older = copy.deepcopy(m)
            edited = created + rng.randrange(30 * T, 3 * DAY)
            m["lastEditedDateTime"] = self.fmt(edited)
            kind = m["body"]["contentType"]
            for _ in range(5):
                content = self.text_body(script) if kind == "text" else self.html_body(script, prefix)
                if content != older["body"]["content"]:
                    break
            else:
                content += " ✏️"
            m["body"] = {"contentType": kind, "content": content}
            last = edited
            self.stale[id(m)] = older
        # attachments (on both versions of an edited message)
        r = rng.random()
        att = None
        if text is None and r < 0.04:
            att, front = self.file_attachment(c), False
        elif text is None and r < 0.07 and c.messages:
            att, front = self.quote_attachment(rng.choice(c.messages[-20:])), True
        if att is not None:
            for version in (m, older):
                if version is not None:
                    self.attach(version, copy.deepcopy(att), front)
        # reactions
        if rng.random() < 0.15 and c.members:
            last = max(last, self.add_reactions(m, c, created))
        if last != created:
            self.touch(m, last)
        if last == created and allow_delete and rng.random() < 0.025:
            self.delete(m, created + rng.randrange(MINUTE, 2 * DAY))
        return m

    def delete(self, m, when, keep_stamp=True):
        m["deletedDateTime"] = self.fmt(when) if keep_stamp else None
        m["body"] = {"contentType": m["body"]["contentType"], "content": ""}
        m["attachments"] = []
        m["mentions"] = []
        m["reactions"] = []
        self.touch(m, when)
        self.stale.pop(id(m), None)

    def add_reactions(self, m, c, created):
        rng = self.rng
        t = created
        for _ in range(rng.randint(1, 4)):
            t += rng.randrange(10 * T, 2 * DAY)
            rtype, display = rng.choice(corpus.REACTIONS)
            reaction = {
                "reactionType": rtype,
                "displayName": display or {"😮": "Surprised face", "💯": "Hundred points"}.get(rtype),
                "reactionContentUrl": None,
                "createdDateTime": self.fmt(t),
                "user": {"application": None, "device": None,
                         "user": self.user_identity(rng.choice(c.members), with_name=False,
                                                    style=True)},
            }
            m["reactions"].append(reaction)
            m["messageHistory"].append({"modifiedDateTime": reaction["createdDateTime"],
                                        "actions": "reactionAdded",
                                        "reaction": copy.deepcopy(reaction)})
        if len(m["reactions"]) > 1 and rng.random() < 0.3:
            gone = m["reactions"].pop()
            t += rng.randrange(10 * T, DAY)
            m["messageHistory"].append({"modifiedDateTime": self.fmt(t),
                                        "actions": "reactionRemoved",
                                        "reaction": copy.deepcopy(gone)})
        return t

    def attach(self, m, att, front):
        """Add an attachment and its <attachment> tag (before or after the text)."""
        body = m["body"]
        text = body["content"] if body["contentType"] == "html" else self.esc(body["content"])
        tag = '<attachment id="%s"></attachment>' % att["id"]
        m["attachments"].append(att)
        m["body"] = {"contentType": "html", "content": tag + text if front else text + tag}

    def file_attachment(self, c):
        name, folder = self.rng.choice(corpus.FILES)
        site = (c.team["displayName"].replace(" ", "") if c.team
                else "personal/adele_contoso_onmicrosoft_com")
        return {
            "id": self.guid().upper(),
            "contentType": "reference",
            "contentUrl": "https://contoso.sharepoint.com/sites/%s/%s/%s" % (site, folder, name),
            "content": None,
            "name": name,
            "thumbnailUrl": None,
            "teamsAppId": None,
        }

    def quote_attachment(self, quoted):
        """A quoted reply (messageReference) to an earlier message."""
        sender = None
        if isinstance(quoted.get("from"), dict) and quoted["from"].get("user"):
            u = quoted["from"]["user"]
            sender = {"application": None, "device": None,
                      "user": {"userIdentityType": "aadUser", "tenantId": self.tid,
                               "id": u["id"], "displayName": u["displayName"]}}
        preview = quoted["body"]["content"]
        if quoted["body"]["contentType"] == "html":
            preview = _strip_tags(preview)
        content = json.dumps({"messageId": quoted["id"], "messagePreview": preview[:100],
                              "messageSender": sender}, ensure_ascii=False)
        return {
            "id": quoted["id"],
            "contentType": "messageReference",
            "contentUrl": None,
            "content": content,
            "name": None,
            "thumbnailUrl": None,
            "teamsAppId": None,
        }

    def app_message(self, c, ident, created, reply_to=None, root_id=None):
        name, kind, app_id, teams_app_id = self.rng.choice(self.apps)
        m = self.skeleton(c, ident, created, self.fmt(created), reply_to, root_id)
        m["from"] = {"application": {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                                     "id": app_id, "displayName": name,
                                     "applicationIdentityType": kind},
                     "device": None, "user": None}
        att_id = self.hex32()
        build = self.rng.randrange(1000, 9999)
        ok = self.rng.random() < 0.8
        card = {
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "weight": "bolder",
                 "text": "Build #%d %s" % (build, "succeeded ✅" if ok else "failed ❌")},
                {"type": "TextBlock", "wrap": True,
                 "text": "Pipeline main · 4 stages · triggered by a push"},
            ],
            "actions": [{"type": "Action.OpenUrl", "title": "Open",
                         "url": "https://dev.contoso.com/builds/%d" % build}],
        }
        m["body"] = {"contentType": "html", "content": '<attachment id="%s"></attachment>' % att_id}
        m["attachments"] = [{
            "id": att_id,
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": json.dumps(card, ensure_ascii=False),
            "name": None,
            "thumbnailUrl": None,
            "teamsAppId": teams_app_id,
        }]
        return m

    def system_message(self, c, ident, created, detail):
        m = self.skeleton(c, ident, created, self.fmt(created))
        m["messageType"] = "systemEventMessage"
        m["body"] = {"contentType": "html", "content": "<systemEventMessage/>"}
        m["eventDetail"] = detail
        return m

    def detail(self, kind, c, initiator, created):
        d = {"@odata.type": "#microsoft.graph.%sEventMessageDetail" % kind}
        if kind == "membersAdded":
            d["visibleHistoryStartDateTime"] = "0001-01-01T00:00:00Z"
            d["members"] = [{"id": self.users[u]["id"], "displayName": None,
                             "userIdentityType": "aadUser", "tenantId": self.tid}
                            for u in c.members]
        elif kind == "chatRenamed":
            d["chatId"] = c.id
            d["chatDisplayName"] = c.topic
        elif kind == "messagePinned":
            d["eventDateTime"] = self.fmt(created)
        elif kind == "callStarted":
            d["callEventType"] = "meeting"
            d["callId"] = self.guid()
        elif kind == "callEnded":
            secs = self.rng.randrange(60, 5400)
            d["callId"] = self.guid()
            d["callDuration"] = "PT%dH%dM%dS" % (secs // 3600, secs // 60 % 60, secs % 60) \
                if secs >= 3600 else "PT%dM%dS" % (secs // 60, secs % 60)
            d["callEventType"] = "meeting"
            d["callParticipants"] = [{"participant": {"application": None, "device": None,
                                                      "user": self.user_identity(u, style=False)}}
                                     for u in c.members]
        elif kind == "channelAdded":
            d["channelId"] = c.id
            d["channelDisplayName"] = c.name
        elif kind == "channelRenamed":
            d["channelId"] = c.id
            d["channelDisplayName"] = c.name + " 2"
        elif kind == "teamsAppInstalled":
            name, _, _, teams_app_id = self.apps[0]
            d["teamsAppId"] = teams_app_id
            d["teamsAppDisplayName"] = name
        d["initiator"] = self.initiator(initiator)
        return d

    # -- containers ------------------------------------------------------------------

    def timeline(self, n, start):
        """n increasing tick values (distinct milliseconds) from start."""
        out = []
        t = start
        for _ in range(n):
            t += self.gap()
            t = (t // MS) * MS + self.rng.randrange(MS)
            out.append(t)
        return out

    def fill_chat(self, c, n):
        rng = self.rng
        start = BASE + rng.randrange(0, 330 * DAY)
        times = self.timeline(n, start)
        for i, t in enumerate(times):
            ident = str(t // MS)
            if i == 0 and c.kind in ("group", "meeting"):
                m = self.system_message(c, ident, t, self.detail("membersAdded", c, c.members[0], t))
            elif c.kind == "meeting" and i == 1:
                m = self.system_message(c, ident, t, self.detail("callStarted", c, c.members[0], t))
            elif c.kind == "meeting" and i == n // 2:
                m = self.system_message(c, ident, t, self.detail("callEnded", c, c.members[0], t))
            elif c.kind == "group" and i == 2 and c.topic:
                m = self.system_message(c, ident, t, self.detail("chatRenamed", c, c.members[1], t))
            elif c.kind == "group" and rng.random() < 0.01:
                m = self.system_message(c, ident, t,
                                        self.detail("messagePinned", c, rng.choice(c.members), t))
            elif c.kind in ("group", "meeting") and rng.random() < 0.03:
                m = self.app_message(c, ident, t)
            else:
                m = self.user_message(c, ident, t, rng.choice(c.members))
            c.messages.append(m)

    def fill_notes(self, c, u, note_times):
        picks = sorted(self.rng.sample(note_times, self.rng.randint(6, min(9, len(note_times)))))
        for t in picks:
            c.messages.append(self.user_message(c, str(t // MS), t, u, allow_delete=False))

    def fill_channel(self, c, roots):
        rng = self.rng
        start = BASE + rng.randrange(0, 90 * DAY)
        used = set()
        root_times = self.timeline(roots, start)
        for i, t in enumerate(root_times):
            ident = str(t // MS)
            used.add(ident)
            if i == 0:
                kind = "membersAdded" if c.name == "General" else "channelAdded"
                c.messages.append(self.system_message(c, ident, t,
                                                      self.detail(kind, c, c.members[0], t)))
                continue
            if rng.random() < 0.02:
                kind = rng.choice(["teamsAppInstalled", "channelRenamed"])
                c.messages.append(self.system_message(c, ident, t,
                                                      self.detail(kind, c, rng.choice(c.members), t)))
                continue
            if rng.random() < 0.06:
                root = self.app_message(c, ident, t)
            else:
                root = self.user_message(c, ident, t, rng.choice(c.members))
            c.messages.append(root)
            rt = t
            for _ in range(min(8, int(rng.expovariate(0.5)))):
                rt += rng.randrange(20 * T, 6 * HOUR)
                rt = (rt // MS) * MS + rng.randrange(MS)
                rid = str(rt // MS)
                if rid in used:
                    continue
                used.add(rid)
                if rng.random() < 0.04:
                    reply = self.app_message(c, rid, rt, reply_to=ident, root_id=ident)
                else:
                    reply = self.user_message(c, rid, rt, rng.choice(c.members),
                                              reply_to=ident, root_id=ident)
                c.messages.append(reply)

    # -- special messages ------------------------------------------------------------------

    def plain_candidates(self, c, lo=0, hi=None):
        """Ordinary user messages (not system, app, deleted or edited)."""
        out = []
        for m in c.messages[lo:hi]:
            if (m["messageType"] == "message" and m["from"] and m["from"].get("user")
                    and m["deletedDateTime"] is None and m["lastEditedDateTime"] is None
                    and m["body"]["content"] and id(m) not in self.stale):
                out.append(m)
        return out

    def specials(self, chats, channels):
        group = chats[FIRST_GROUP]
        n = len(group.messages)
        # The phrase, in the first user's first group chat.
        target = pick(self.plain_candidates(group, n // 4, n // 2)
                      or self.plain_candidates(group), 0)
        target["body"] = {"contentType": "html", "content":
                          "<p>Reminder: the <b>%s</b> is due on Friday. Please put your evidence "
                          "in the Audits channel 📋</p>" % PHRASE}
        target["mentions"] = []
        target["attachments"] = []
        # A deleted message whose deletedDateTime stayed null (observed in the wild).
        victim = pick([m for m in self.plain_candidates(group) if m is not target], n // 2 + 1)
        when = timeutil.parse(victim["createdDateTime"]) + 17 * MINUTE
        self.delete(victim, when, keep_stamp=False)
        # A DLP policy violation.
        dlp = pick([m for m in self.plain_candidates(group) if m is not target], n // 2 + 3)
        dlp["policyViolation"] = {
            "dlpAction": "BlockAccess",
            "justificationText": None,
            "policyTip": {
                "generalText": "This item has been blocked by the administrator.",
                "complianceUrl": "https://contoso.com/dlp-policy-page",
                "matchedConditionDescriptions": ["Credit Card Number"],
            },
            "userAction": "None",
            "verdictDetails": "AllowOverrideWithoutJustification,AllowFalsePositiveOverride",
        }
        # A field this Graph version does not know yet: clients must keep it.
        future = pick(self.plain_candidates(chats[BIG_ONE_ON_ONE]), 5)
        future["unknownFutureField"] = {"kind": "preview", "values": [1, 2, 3], "note": "keep me"}

        # Odd ids in the small group chat.
        odd = self.plain_candidates(chats[ODD_IDS_CHAT])
        base = odd[0]["id"]
        odd[0]["id"] = base + "/1"
        odd[1]["id"] = odd[1]["id"] + "%2Fdraft%"
        head = odd[2]["id"] + "_"
        filler = ("thread-reply-" * 40)[:231 - len(head)]
        long_id = head + filler + "€"
        tail = ("Ωж" * 50)
        long_id += tail[:300 - len(long_id)]
        assert len(long_id) == 300
        odd[2]["id"] = long_id

        # The same id in two containers of one scope (the first user's scope).
        donor = pick([m for m in self.plain_candidates(group) if m not in (target, dlp)], 7)
        taker = pick(self.plain_candidates(chats[2]), 2)
        taker["id"] = donor["id"]
        taker["createdDateTime"] = donor["createdDateTime"]
        taker["lastModifiedDateTime"] = donor["lastModifiedDateTime"]
        taker["etag"] = donor["etag"]

        # ... and in two channels of the first team.
        general, audits = channels[0][0], channels[0][1]
        d = self.plain_candidates(general)
        d = pick([m for m in d if m["replyToId"] is None], 2)
        t = self.plain_candidates(audits)
        t = pick([m for m in t if m["replyToId"] is None], 2)
        old_id = t["id"]
        t["id"] = d["id"]
        for m in audits.messages:
            if m["replyToId"] == old_id:
                m["replyToId"] = d["id"]
                m["webUrl"] = m["webUrl"].replace("parentMessageId=" + old_id,
                                                  "parentMessageId=" + d["id"])
        t["webUrl"] = t["webUrl"].replace("/%s?" % old_id, "/%s?" % d["id"]).replace(
            "parentMessageId=" + old_id, "parentMessageId=" + d["id"])
        if any(m is not t and m["id"] == d["id"] for m in audits.messages):
            raise AssertionError("channel id collision setup failed")

        # A chat message without a chatId, and a channel reply without a channelIdentity.
        pick(self.plain_candidates(chats[NOCHAT_CHAT]), 1)["chatId"] = None
        replies = [m for m in self.plain_candidates(channels[2][0]) if m["replyToId"]]
        if replies:
            replies[0]["channelIdentity"] = None


    # -- streams ----------------------------------------------------------------------

    def stream(self, scope_key, containers):
        """Serving order for one scope: runs of each container, interleaved,
        then exact repeats and stale versions placed far from the originals."""
        rng = random.Random("%s|%s" % (self.seed, scope_key))
        runs = []
        for c in containers:
            msgs = list(c.messages)
            i = 0
            while i < len(msgs):
                k = rng.randint(5, 40)
                runs.append(msgs[i:i + k])
                i += k
        rng.shuffle(runs)
        base = [m for run in runs for m in run]
        n = len(base)
        keyed = [(float(i), m) for i, m in enumerate(base)]
        if n >= 30:
            for j in range(max(1, n // 150)):
                p = rng.randrange(n)
                q = min(n, p + 60 + rng.randrange(40))
                keyed.append((q - 0.5 + j * 1e-4, base[p]))
        edited = [(i, m) for i, m in enumerate(base) if id(m) in self.stale]
        rng.shuffle(edited)
        wanted = max(1, len(edited) // 12) if edited else 0
        for j, (i, m) in enumerate(edited[:wanted]):
            # Even j: the stale version comes first; odd j: after the newest.
            # Far enough (60+ places) to land on another page where possible.
            early = i - 60 - rng.randrange(40)
            late = i + 60 + rng.randrange(40)
            if j % 2 == 0:
                q = early if early >= 0 else (late if late <= n else 0)
            else:
                q = late if late <= n else (early if early >= 0 else n)
            keyed.append((q - 0.25 + j * 1e-4, self.stale[id(m)]))
        keyed.sort(key=lambda km: km[0])
        return [m for _, m in keyed]

    # -- all together -----------------------------------------------------------------------

    def build(self):
        self.make_users()
        rng = self.rng
        uid = [u["id"] for u in self.users]

        teams = []
        channels = []
        for name, desc, chans, members in TEAMS:
            team = {"id": self.guid(), "displayName": name, "description": desc}
            teams.append(team)
            cs = []
            for cname, roots in chans:
                c = Container("channel", "19:%s@thread.tacv2" % self.hex32(), members,
                              team=team, name=cname)
                cs.append((c, roots))
            channels.append(cs)

        chats = []
        for kind, members, n, topic in CHATS:
            if kind == "oneOnOne":
                a, b = sorted(uid[m] for m in members)
                ident = "19:%s_%s@unq.gbl.spaces" % (a, b)
            elif kind == "meeting":
                ident = "19:meeting_%s@thread.v2" % base64.b64encode(
                    self.guid().encode("ascii")).decode("ascii").rstrip("=")
            else:
                ident = "19:%s@thread.v2" % self.hex32()
            chats.append((Container(kind, ident, list(members), topic=topic), n))

        for c, n in chats:
            self.fill_chat(c, self.count(n))
        note_start = BASE + rng.randrange(0, 60 * DAY)
        note_times = self.timeline(10, note_start)
        notes = {}
        for u in range(len(self.users)):
            if u == NO_CHATS_USER:
                continue
            c = Container("notes", "48:notes", [u])
            self.fill_notes(c, u, note_times)
            notes[u] = c
        for cs in channels:
            for c, roots in cs:
                self.fill_channel(c, self.count(roots))

        chat_list = [c for c, _ in chats]
        channel_lists = [[c for c, _ in cs] for cs in channels]
        self.specials(chat_list, channel_lists)
        # Attachments of every kind (own random stream: the rest stays as it was).
        media = Media(self.seed)
        attachgen.decorate(self, media, chat_list, channel_lists,
                           {"big": BIG_ONE_ON_ONE, "group": FIRST_GROUP, "meeting": MEETING_CHAT,
                            "other": OTHER_ONE_ON_ONE}, self.large_files, PHRASE)

        chat_streams = {}
        for u, user in enumerate(self.users):
            mine = [c for c in chat_list if u in c.members]
            if u in notes:
                mine.append(notes[u])
            chat_streams[user["id"]] = self.stream("users/" + user["id"], mine)
        channel_streams = {}
        for team, cs in zip(teams, channels):
            channel_streams[team["id"]] = self.stream("teams/" + team["id"], [c for c, _ in cs])
        chats_by_user, channels_by_team = directory.generated(
            self, chat_list, notes, teams, channel_lists, CURRENT_TOPICS, CURRENT_CHANNELS)
        tenant = Tenant(self.tid, self.users, teams, chat_streams, channel_streams, media,
                        chats=chats_by_user, channels=channels_by_team)
        tenant.scan_media()
        return tenant


def pick(items, k):
    """items[k], wrapping around, so small (scaled-down) containers still work."""
    if not items:
        raise AssertionError("no candidate message for a special case")
    return items[k % len(items)]


def _strip_tags(html):
    out = []
    inside = False
    for ch in html:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out)


def generate(seed=1, scale=1.0, tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47",
             large_files=False):
    return Generator(seed, scale, tenant_id, large_files).build()
