"""Chats and channels as directory objects (the names behind the ids).

Served by directory_routes.py:
  GET /v1.0/users/{id}/chats[?$expand=members]   chat objects of one user
  GET /v1.0/teams/{id}/allChannels                channel objects of one team

The tenant stores them in Tenant.chats ({userId: [chat]}, every chat with its
full member list) and Tenant.channels ({teamId: [channel]}). The lists served
are those, plus an entry *derived* from the messages for every chat or channel
id that a scope's getAllMessages stream holds but the stored list lacks
(loaded tenants without chats.json or channels.json, --samples, chats and
channels made through the live-change API). So every chatId a user's
getAllMessages serves is in that user's chat list, and every
channelIdentity.channelId of a team's stream is in its allChannels list.

Derived entries: a chat gets topic null, a chatType read from its id
(`@unq.gbl.spaces`: oneOnOne, `19:meeting_`: meeting, anything else: group),
dates from its messages, and as members the users whose scope holds it plus
the senders of its messages (48:notes: only its owner); a channel gets its id
as displayName and membershipType standard.

The generated tenant (generated() below, called by generate.py after every
message exists, with a random stream of its own so that no message changes)
stores its chats and channels. It also turns one user into a guest (a
`#EXT#` userPrincipalName) at that point, so the messages are unaffected.
"""

import base64
import random
import threading
import urllib.parse

from . import timeutil

NOTES = "48:notes"
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
FULL_HISTORY = "0001-01-01T00:00:00Z"
T = timeutil.TICKS_PER_SECOND
MINUTE = 60 * T

GUEST_USER = 6          # Megan Bowen becomes a guest from fabrikam.com
GUEST_DOMAIN = "fabrikam.com"

# Attendees of the meeting chat from a partner tenant: with the tenant's own
# members the meeting chat has more than 25 members, so $expand=members cuts it.
EXTERNAL_GIVEN = ["Alex", "Brianna", "Carlos", "Dana", "Emil", "Fatima", "Goran", "Hana",
                  "Ivan", "Jun", "Kofi", "Lucía"]
EXTERNAL_SURNAME = ["Novak", "Okafor", "Schmidt", "Tanaka", "Rossi", "Haddad"]
EXTERNAL_COUNT = 24

_STATE_LOCK = threading.Lock()


# -- small pieces ----------------------------------------------------------------------

def graph_time(t):
    """Ticks -> Graph's directory style: milliseconds, trailing zeros dropped."""
    text = timeutil.format_ticks(t, 3)
    if "." in text:
        head, frac = text[:-1].split(".")
        frac = frac.rstrip("0")
        text = head + ("." + frac if frac else "") + "Z"
    return text


def chat_type_of(chat_id):
    if chat_id.endswith("@unq.gbl.spaces"):
        return "oneOnOne"
    if chat_id.startswith("19:meeting_"):
        return "meeting"
    return "group"


def chat_web_url(chat_id, tenant_id):
    return "https://teams.microsoft.com/l/chat/%s/0?tenantId=%s" % (
        urllib.parse.quote(chat_id, safe=""), tenant_id)


def join_web_url(chat_id):
    # The same URL attachgen writes into the meetingReference attachment.
    return "https://teams.microsoft.com/l/meetup-join/%s/0" % urllib.parse.quote(chat_id, safe="")


def member(chat_id, user_id, display, email, tenant_id, roles=None, visible=FULL_HISTORY):
    raw = "0##0##%s##%s##%s" % (tenant_id, chat_id, user_id)
    return {
        "@odata.type": MEMBER_TYPE,
        "id": base64.b64encode(raw.encode("utf-8")).decode("ascii"),
        "roles": list(roles or []),
        "displayName": display,
        "visibleHistoryStartDateTime": visible,
        "userId": user_id,
        "email": email,
        "tenantId": tenant_id,
    }


def user_member(chat_id, user, tenant_id):
    upn = str(user.get("userPrincipalName") or "")
    return member(chat_id, user.get("id"), user.get("displayName"), user.get("mail"),
                  tenant_id, ["guest"] if "#EXT#" in upn else [])


def chat_object(chat_id, topic, created, updated, chat_type, tenant_id, meeting_info,
                last_read, members):
    return {
        "id": chat_id,
        "topic": topic,
        "createdDateTime": created,
        "lastUpdatedDateTime": updated,
        "chatType": chat_type,
        "webUrl": chat_web_url(chat_id, tenant_id),
        "isHiddenForAllMembers": False,
        "tenantId": tenant_id,
        "onlineMeetingInfo": meeting_info,
        "viewpoint": {"isHidden": False, "lastMessageReadDateTime": last_read},
        "members": members,
    }


def channel_object(team_id, channel_id, created, name, description, membership, tenant_id,
                   email):
    return {
        "@odata.id": "https://graph.microsoft.com/v1.0/tenants/%s/teams/%s/channels/%s" % (
            tenant_id, team_id, channel_id),
        "id": channel_id,
        "createdDateTime": created,
        "displayName": name,
        "description": description,
        "isFavoriteByDefault": None,
        "email": email,
        "tenantId": tenant_id,
        "webUrl": "https://teams.microsoft.com/l/channel/%s/%s?groupId=%s&tenantId=%s" % (
            urllib.parse.quote(channel_id, safe="").lower(), urllib.parse.quote(name, safe=""),
            team_id, tenant_id),
        "membershipType": membership,
    }


# -- the generated tenant ---------------------------------------------------------------

def _times(messages):
    ts = [timeutil.parse(m.get("createdDateTime")) for m in messages]
    return [t for t in ts if t is not None]


def generated(gen, chats, notes, teams, channel_lists, topics, channel_names):
    """Chats and channels of the generated tenant: ({userId: [chat]},
    {teamId: [channel]}). `chats` are generate.Container objects (CHATS
    order), `notes` {user index: notes Container}, `topics` {CHATS index:
    current topic}, `channel_names` {(team index, channel index): (name,
    membershipType)}. Also makes user GUEST_USER a guest."""
    rng = random.Random("directory:%s" % gen.seed)
    tid = gen.tid
    users = gen.users
    if len(users) > GUEST_USER:
        guest = users[GUEST_USER]
        local = guest["userPrincipalName"].split("@")[0]
        guest["mail"] = "%s@%s" % (local, GUEST_DOMAIN)
        guest["userPrincipalName"] = "%s_%s#EXT#@contoso.onmicrosoft.com" % (
            local, GUEST_DOMAIN)

    partner_tid = "%08x-%04x-4%03x-a%03x-%012x" % (
        rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12), rng.getrandbits(12),
        rng.getrandbits(48))
    externals = []
    for i in range(EXTERNAL_COUNT):
        given = EXTERNAL_GIVEN[i % len(EXTERNAL_GIVEN)]
        surname = EXTERNAL_SURNAME[(i * 5) % len(EXTERNAL_SURNAME)]
        uid = "%08x-%04x-4%03x-8%03x-%012x" % (
            rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
            rng.getrandbits(12), rng.getrandbits(48))
        externals.append((uid, "%s %s" % (given, surname),
                          "%s.%s@%s" % (given.lower(), surname.lower(), GUEST_DOMAIN)))

    by_user = {u["id"]: [] for u in users}
    for index, c in enumerate(chats):
        times = _times(c.messages)
        first, last = min(times), max(times)
        created = first - rng.randrange(2 * MINUTE, 90 * MINUTE)
        topic = topics.get(index, c.topic) if c.kind in ("group", "meeting") else None
        updated = created
        if c.kind in ("group", "meeting") and len(c.messages) > 2:
            # renamed (or members changed) after the first messages
            updated = max(created, (_times(c.messages[:3]) or [created])[-1])
        members = [user_member(c.id, users[u], tid) for u in c.members]
        info = None
        if c.kind == "meeting":
            organizer = users[c.members[0]]
            members += [member(c.id, uid, name, email, partner_tid, visible=graph_time(created))
                        for uid, name, email in externals]
            members[0]["roles"] = ["owner"]
            info = {"calendarEventId": None, "joinWebUrl": join_web_url(c.id),
                    "organizer": {"id": organizer["id"], "displayName": None,
                                  "userIdentityType": "aadUser", "tenantId": tid}}
        elif c.kind == "group":
            members[0]["roles"] = ["owner"]
        for u in c.members:
            read = last - rng.randrange(0, 3 * 86400) * T
            by_user[users[u]["id"]].append(chat_object(
                c.id, topic, graph_time(created), graph_time(updated), c.kind, tid, info,
                graph_time(max(read, first)), members))
    for u, c in sorted(notes.items()):
        times = _times(c.messages)
        created = min(times) - rng.randrange(MINUTE, 30 * 86400 * T)
        by_user[users[u]["id"]].append(chat_object(
            NOTES, None, graph_time(created), graph_time(created), "group", tid, None,
            graph_time(max(times)), [user_member(NOTES, users[u], tid)]))

    by_team = {}
    for ti, (team, cs) in enumerate(zip(teams, channel_lists)):
        out = []
        for ci, c in enumerate(cs):
            times = _times(c.messages) or [timeutil.ticks(2024, 1, 8)]
            created = min(times) - rng.randrange(MINUTE, 7 * 86400 * T)
            name, membership = channel_names.get((ti, ci), (c.name, "standard"))
            if ci == 0:
                description = team.get("description")
            else:
                description = rng.choice([None, "%s of %s" % (name, team.get("displayName"))])
            email = "" if membership != "standard" else "%08x.contoso.onmicrosoft.com@emea." \
                "teams.ms" % rng.getrandbits(32)
            out.append(channel_object(team["id"], c.id, graph_time(created), name,
                                      description, membership, tid, email))
        by_team[team["id"]] = out
    return by_user, by_team


# -- lists as served: stored plus derived -----------------------------------------------

def _sender(m):
    frm = m.get("from")
    user = frm.get("user") if isinstance(frm, dict) else None
    if isinstance(user, dict) and isinstance(user.get("id"), str):
        return user
    return None


def _derive(tenant):
    tid = tenant.tenant_id
    users = [u for u in tenant.users if isinstance(u, dict)]
    by_id = {u.get("id"): u for u in users}
    holders = {}        # chat id -> [user id] whose scope holds it (tenant order)
    facts = {}          # (owner or None, chat id) -> [first, last, {sender id: identity}]
    order = {}          # user id -> chat ids in order of first appearance
    for u in users:
        uid = u.get("id")
        seen = order.setdefault(uid, [])
        for m in tenant.chat_streams.get(uid, []):
            cid = m.get("chatId") if isinstance(m, dict) else None
            if not isinstance(cid, str) or not cid:
                continue
            if cid not in seen:
                seen.append(cid)
                holders.setdefault(cid, []).append(uid)
            f = facts.setdefault((uid if cid == NOTES else None, cid), [None, None, {}])
            t = timeutil.parse(m.get("createdDateTime"))
            if t is not None:
                f[0] = t if f[0] is None else min(f[0], t)
                f[1] = t if f[1] is None else max(f[1], t)
            s = _sender(m)
            if s is not None:
                f[2].setdefault(s["id"], s)
    chats = {}
    for u in users:
        uid = u.get("id")
        stored = [c for c in tenant.chats.get(uid, []) if isinstance(c, dict)]
        have = {c.get("id") for c in stored}
        out = list(stored)
        for cid in order.get(uid, []):
            if cid in have:
                continue
            first, last, senders = facts[(uid if cid == NOTES else None, cid)]
            kind = chat_type_of(cid)
            if cid == NOTES:
                ids = [uid]
            else:
                ids = list(holders.get(cid, []))
                if kind == "oneOnOne":
                    ids += [x for x in cid[3:-len("@unq.gbl.spaces")].split("_")
                            if x in by_id and x not in ids]
                ids += [x for x in senders if x not in ids]
            members = []
            for x in ids:
                if x in by_id:
                    members.append(user_member(cid, by_id[x], tid))
                else:
                    s = senders[x]
                    members.append(member(cid, x, s.get("displayName"), None,
                                          s.get("tenantId") or tid))
            stamp = graph_time(first) if first is not None else None
            info = None
            if kind == "meeting":
                info = {"calendarEventId": None, "joinWebUrl": join_web_url(cid),
                        "organizer": None}
            out.append(chat_object(cid, None, stamp, stamp, "group" if cid == NOTES else kind,
                                   tid, info, graph_time(last) if last is not None else None,
                                   members))
        chats[uid] = out
    channels = {}
    for t in tenant.teams:
        if not isinstance(t, dict):
            continue
        team_id = t.get("id")
        stored = [c for c in tenant.channels.get(team_id, []) if isinstance(c, dict)]
        have = {c.get("id") for c in stored}
        out = list(stored)
        firsts = {}
        for m in tenant.channel_streams.get(team_id, []):
            ident = m.get("channelIdentity") if isinstance(m, dict) else None
            cid = ident.get("channelId") if isinstance(ident, dict) else None
            if not isinstance(cid, str) or cid in have:
                continue
            t0 = timeutil.parse(m.get("createdDateTime"))
            if cid not in firsts:
                firsts[cid] = t0
            elif t0 is not None and (firsts[cid] is None or t0 < firsts[cid]):
                firsts[cid] = t0
        for cid, first in firsts.items():
            out.append(channel_object(team_id, cid, graph_time(first) if first else None, cid,
                                      None, "standard", tid, ""))
        channels[team_id] = out
    return chats, channels


def lists(tenant):
    """({userId: [chat, full members]}, {teamId: [channel]}) as served now."""
    with tenant._lock:
        generation = tenant._generation
        cached = getattr(tenant, "_directory_cache", None)
    if cached is not None and cached[0] == generation:
        return cached[1], cached[2]
    with _STATE_LOCK:
        chats, channels = _derive(tenant)
    with tenant._lock:
        if tenant._generation == generation:
            tenant._directory_cache = (generation, chats, channels)
    return chats, channels


def served_chat(chat, expand, max_members=25):
    """A chat as served: members only with $expand=members, at most 25."""
    out = {k: v for k, v in chat.items() if k != "members"}
    if expand:
        out["members"] = list(chat.get("members") or [])[:max_members]
    return out


def snapshot(tenant):
    """The "chats" and "channels" of GET /_emulator/tenant."""
    chats, channels = lists(tenant)
    return ({uid: [served_chat(c, True) for c in cs] for uid, cs in chats.items()},
            channels)
