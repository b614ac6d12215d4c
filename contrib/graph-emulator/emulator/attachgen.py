"""Attachments of every kind for the generated tenant.

Runs after the generator has built every chat and channel (and its special
messages) and before the streams are cut, with a random.Random of its own,
so the round-1 tenant is unchanged apart from the messages decorated here.
It only decorates ordinary messages that are not edited, deleted, special or
already carrying attachments; their timestamps do not change. Group chat
messages are shared by the streams of all members, so a decoration shows in
every member's scope.

What gets added (all registered in the Media catalogue):
  first user's first group chat ("Project Falcon"):
    two reference attachments with the same name in one message, a hosted
    PNG image, a code snippet (codesnippet card + text/plain hosted content),
    a user-sent adaptive card, and with --large-files a 200 MiB reference;
  first user's long 1:1 chat:
    references whose names have '%' and non-Latin script, a missing (404),
    a forbidden (403) and a ~5 MiB reference, a thumbnail card, a quoted
    reply (messageReference) and a forwardedMessageReference;
  the meeting chat: a meetingReference and a small reference;
  another 1:1 chat: a reference and a hosted image;
  channels: a hosted image on a root post and on a reply, a tabReference,
    a reference, a thumbnail card, a code snippet, and a post with two
    hosted images.
"""

import base64
import json
import random
import urllib.parse
import uuid

from . import blobs
from . import timeutil

MIB = 1024 * 1024
FIVE_MIB_SIZE = 5 * MIB + 123457
LARGE_SIZE = 200 * MIB
T = timeutil.TICKS_PER_SECOND
MS = timeutil.TICKS_PER_MS
GRAPH = "https://graph.microsoft.com/v1.0"

SNIPPET_CARD = "application/vnd.microsoft.card.codesnippet"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
THUMBNAIL_CARD = "application/vnd.microsoft.card.thumbnail"


def _esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _url(base, path):
    """base (scheme://host) + the path, percent-encoded as SharePoint writes it."""
    return base + urllib.parse.quote(path, safe="/")


class Decorator:
    def __init__(self, gen, media, large_files, phrase):
        self.gen = gen
        self.media = media
        self.large_files = large_files
        self.phrase = phrase
        self.rng = random.Random("attachments|%s" % gen.seed)
        self.used = set()
        self._candidates = {}

    # -- helpers ------------------------------------------------------------------

    def guid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def candidates(self, c):
        """Ordinary messages of container c, computed before any decoration."""
        got = self._candidates.get(id(c))
        if got is None:
            got = []
            for m in self.gen.plain_candidates(c):
                if (not m["id"].isdigit() or m["policyViolation"] or m["attachments"]
                        or m["mentions"] or "unknownFutureField" in m
                        or self.phrase in m["body"]["content"]
                        or (c.kind == "channel" and m["channelIdentity"] is None)
                        or (c.kind != "channel" and m["chatId"] is None)):
                    continue
                got.append(m)
            self._candidates[id(c)] = got
        return got

    def pick(self, c, reply=None):
        """An unused candidate (a used one if none is left); reply: True for
        replies only, False for root posts only (either, if there are none),
        None for either."""
        pool = [m for m in self.candidates(c)
                if reply is None or bool(m["replyToId"]) == reply] or self.candidates(c)
        fresh = [m for m in pool if id(m) not in self.used]
        pool = fresh or pool
        if not pool:
            return None
        m = self.rng.choice(pool)
        self.used.add(id(m))
        return m

    def when(self, m):
        return timeutil.parse(m["createdDateTime"])

    def html(self, m):
        body = m["body"]
        text = body["content"] if body["contentType"] == "html" else _esc(body["content"])
        return text

    def append_html(self, m, fragment, front=False):
        text = self.html(m)
        content = fragment + text if front else text + fragment
        m["body"] = {"contentType": "html", "content": content}

    def attach(self, m, att, front=False):
        m["attachments"].append(att)
        self.append_html(m, '<attachment id="%s"></attachment>' % att["id"], front)

    @staticmethod
    def attachment(ident, content_type, content=None, content_url=None, name=None,
                   teams_app_id=None):
        return {
            "id": ident,
            "contentType": content_type,
            "contentUrl": content_url,
            "content": content,
            "name": name,
            "thumbnailUrl": None,
            "teamsAppId": teams_app_id,
        }

    def sender_upn_path(self, m):
        """personal/<upn with _> of the message's sender (first user if none)."""
        uid = m["from"]["user"]["id"]
        upn = next((u["userPrincipalName"] for u in self.gen.users if u["id"] == uid),
                   self.gen.users[0]["userPrincipalName"])
        return "personal/" + upn.replace(".", "_").replace("@", "_")

    # -- attachments of each kind ----------------------------------------------------

    def reference(self, m, url, name, size=None, status=200, front=False):
        created = self.when(m)
        modified = created - self.rng.randrange(60 * T, 3 * 86400 * T)
        if size is None:
            size = self.rng.randrange(1500, 9000)
        self.media.add_file(url, name, size, status,
                            modified - self.rng.randrange(0, 30 * 86400 * T), modified)
        self.attach(m, self.attachment(self.guid(), "reference", content_url=url, name=name),
                    front)

    def chat_file(self, m, name, **kw):
        url = _url("https://contoso-my.sharepoint.com",
                   "/%s/Documents/Microsoft Teams Chat Files/%s" % (self.sender_upn_path(m), name))
        self.reference(m, url, name, **kw)

    def site_file(self, m, site, folder, name, **kw):
        url = _url("https://contoso.sharepoint.com",
                   "/sites/%s/Shared Documents/%s/%s" % (site, folder, name))
        self.reference(m, url, name, **kw)

    def hosted_id(self, view):
        while True:
            obj = "0-wus-d%d-%032x" % (self.rng.randrange(1, 10), self.rng.getrandbits(128))
            text = "id=x_%s,type=1,url=https://us-api.asm.skype.com/v1/objects/%s/views/%s" % (
                obj, obj, view)
            ident = base64.b64encode(text.encode("ascii")).decode("ascii")
            if "/" not in ident and "+" not in ident:
                return ident

    def hosted_url(self, m, c, ident):
        if c.kind != "channel":
            return "%s/chats/%s/messages/%s/hostedContents/%s/$value" % (
                GRAPH, m["chatId"], m["id"], ident)
        team = m["channelIdentity"]["teamId"]
        if m["replyToId"]:
            return "%s/teams/%s/channels/%s/messages/%s/replies/%s/hostedContents/%s/$value" % (
                GRAPH, team, c.id, m["replyToId"], m["id"], ident)
        return "%s/teams/%s/channels/%s/messages/%s/hostedContents/%s/$value" % (
            GRAPH, team, c.id, m["id"], ident)

    def image(self, m, c, count=1):
        tags = []
        for _ in range(count):
            ident = self.hosted_id("imgo")
            url = self.hosted_url(m, c, ident)
            self.media.add_hosted(url[len("https://graph.microsoft.com"):], "image/png",
                                  blobs.tiny_png("%s|%s" % (self.gen.seed, ident)))
            tags.append('<img height="16" src="%s" width="16" style="vertical-align:bottom; '
                        'width:16px; height:16px" alt="image">' % url)
        self.append_html(m, "<p>%s</p>" % "".join(tags))

    def code_snippet(self, m, c):
        ident = self.hosted_id("original")
        url = self.hosted_url(m, c, ident)
        language, data = blobs.snippet("%s|%s" % (self.gen.seed, ident))
        self.media.add_hosted(url[len("https://graph.microsoft.com"):], "text/plain", data)
        content = json.dumps({"language": language, "wrap": True, "codeSnippetUrl": url})
        self.attach(m, self.attachment("%032x" % self.rng.getrandbits(128), SNIPPET_CARD,
                                       content=content))
        # Teams keeps the URL in the card only; the body links it too, so that
        # clients that look for hosted contents in the body find it.
        self.append_html(m, '<p><a href="%s" title="Code snippet">%s snippet</a></p>'
                         % (url, language))

    def adaptive_card(self, m):
        card = {
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "weight": "bolder", "text": "Lunch poll 🍕"},
                {"type": "Input.ChoiceSet", "id": "choice", "style": "expanded",
                 "choices": [{"title": "Pizza", "value": "1"}, {"title": "Sushi", "value": "2"},
                             {"title": "Салат", "value": "3"}]},
            ],
            "actions": [{"type": "Action.Submit", "title": "Vote"}],
        }
        self.attach(m, self.attachment("%032x" % self.rng.getrandbits(128), ADAPTIVE_CARD,
                                       content=json.dumps(card, ensure_ascii=False)))

    def thumbnail_card(self, m):
        card = {
            "title": "Quarterly results",
            "subtitle": "Finance · Q3",
            "text": "Revenue up 12 %, costs flat. Details in the deck.",
            "images": [{"url": "https://contoso.sharepoint.com/sites/ContosoFinance/"
                               "SiteAssets/q3-thumb.png"}],
            "buttons": [{"type": "openUrl", "title": "Open deck",
                         "value": "https://contoso.sharepoint.com/sites/ContosoFinance"}],
        }
        self.attach(m, self.attachment("%032x" % self.rng.getrandbits(128), THUMBNAIL_CARD,
                                       content=json.dumps(card, ensure_ascii=False)))

    def quote(self, m, c):
        earlier = [x for x in c.messages if x["messageType"] == "message" and x["from"]
                   and x["from"].get("user") and x["body"]["content"]
                   and self.when(x) < self.when(m)]
        if earlier:
            self.attach(m, self.gen.quote_attachment(earlier[-1]), front=True)

    def forwarded(self, m, source):
        original = self.rng.choice(self.candidates(source) or [m])
        user = original["from"]["user"]
        preview = original["body"]["content"]
        if original["body"]["contentType"] == "html":
            preview = "".join(part.split(">", 1)[-1] for part in preview.split("<"))
        content = {
            "originalMessageId": original["id"],
            "originalMessageContent": preview[:200],
            "originalSentDateTime": original["createdDateTime"],
            "originalSender": {"id": user["id"], "displayName": user["displayName"],
                               "userIdentityType": "aadUser", "tenantId": self.gen.tid},
            "originalConversationId": source.id,
        }
        self.attach(m, self.attachment(self.guid(), "forwardedMessageReference",
                                       content=json.dumps(content, ensure_ascii=False)),
                    front=True)

    def meeting_reference(self, m, c):
        start = self.when(m) + self.rng.randrange(1, 10) * 86400 * T
        start = start // (1800 * T) * (1800 * T)
        content = {
            "meetingId": base64.b64encode(("MCMjMCMj" + self.guid()).encode()).decode(),
            "subject": c.topic or "Meeting",
            "startDateTime": timeutil.format_ticks(start, 0),
            "endDateTime": timeutil.format_ticks(start + 3600 * T, 0),
            "joinWebUrl": "https://teams.microsoft.com/l/meetup-join/%s/0" % urllib.parse.quote(
                c.id, safe=""),
        }
        self.attach(m, self.attachment(self.guid(), "meetingReference",
                                       content=json.dumps(content, ensure_ascii=False)))

    def tab_reference(self, m, c):
        tab = self.guid()
        content = {
            "tabId": tab,
            "name": "Sales dashboard",
            "entityId": "dashboard-%s" % tab[:8],
            "websiteUrl": "https://contoso.sharepoint.com/sites/%s/SitePages/Dashboard.aspx"
                          % c.team["displayName"].replace(" ", ""),
        }
        self.attach(m, self.attachment(self.guid(), "tabReference",
                                       content=json.dumps(content, ensure_ascii=False),
                                       teams_app_id="com.microsoft.teamspace.tab.web"))

    # -- placement --------------------------------------------------------------------

    def run(self, chats, channels, indexes):
        big, group, meeting, other = (chats[indexes[k]] for k in
                                      ("big", "group", "meeting", "other"))
        m = self.pick(group)
        if m:
            self.chat_file(m, "Budget 2025.xlsx")
            self.site_file(m, "ContosoFinance", "Budgets", "Budget 2025.xlsx")
        for action in (lambda x: self.image(x, group), lambda x: self.code_snippet(x, group),
                       self.adaptive_card):
            m = self.pick(group)
            if m:
                action(m)
        if self.large_files:
            m = self.pick(group)
            if m:
                self.chat_file(m, "All-hands recording.mp4", size=LARGE_SIZE)

        for action in (
                lambda x: self.chat_file(x, "Growth 15% plan.docx"),
                lambda x: self.chat_file(x, "Квартальный отчёт 第3期.xlsx"),
                lambda x: self.chat_file(x, "Old draft.docx", status=404),
                lambda x: self.site_file(x, "HR-Confidential", "Payroll", "Salaries 2025.xlsx",
                                         status=403),
                lambda x: self.chat_file(x, "Site photos.zip", size=FIVE_MIB_SIZE),
                self.thumbnail_card,
                lambda x: self.quote(x, big),
                lambda x: self.forwarded(x, group)):
            m = self.pick(big)
            if m:
                action(m)

        m = self.pick(meeting)
        if m:
            self.meeting_reference(m, meeting)
        m = self.pick(meeting)
        if m:
            self.chat_file(m, "Agenda.docx")
        m = self.pick(other)
        if m:
            self.chat_file(m, "Notes.txt")
        m = self.pick(other)
        if m:
            self.image(m, other)

        general, audits, reporting = channels[0][0], channels[0][1], channels[0][-1]
        site = general.team["displayName"].replace(" ", "")
        plan = [
            (general, False, lambda x: self.image(x, general)),
            (general, True, lambda x: self.image(x, general)),
            (general, False, lambda x: self.tab_reference(x, general)),
            (audits, None, lambda x: self.site_file(x, site, audits.name, "Audit checklist.pdf")),
            (reporting, False, self.thumbnail_card),
            (reporting, True, lambda x: self.code_snippet(x, reporting)),
        ]
        design = channels[1][-1]
        plan.append((design, False, lambda x: self.image(x, design, count=2)))
        for c, reply, action in plan:
            m = self.pick(c, reply)
            if m:
                action(m)


def decorate(gen, media, chats, channels, indexes, large_files, phrase):
    """Add the attachments to the generator's containers and register their
    files and hosted contents in `media`."""
    Decorator(gen, media, large_files, phrase).run(chats, channels, indexes)
