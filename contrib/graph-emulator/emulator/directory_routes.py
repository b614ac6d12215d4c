"""Graph routes for the names behind the ids (the model is in directory.py).

  GET /v1.0/users/{id or UPN}/chats      $expand=members, $top (1-50, default 20),
                                         $select; paged with $skiptoken
  GET /v1.0/teams/{id}/allChannels       $select; one page

Both also take the keyed forms users('{id}')/chats and teams('{id}')/allChannels.
Authentication, faults and latency are handled before these run (server.py).
"""

import urllib.parse

from . import directory
from . import paging
from .errors import GraphError, not_found_team, not_found_user

DEFAULT_CHATS_TOP = 20
MAX_CHATS_TOP = 50
MAX_EXPANDED_MEMBERS = 25

_UNSUPPORTED = ("$filter", "$orderby", "$search", "$count", "$skip")


def handle(handler, segs, lower, params):
    """Answers and returns True if the path is one of these routes."""
    if len(segs) == 3 and lower[0] == "users" and lower[2] == "chats":
        list_chats(handler, segs[1], params)
        return True
    if len(segs) == 3 and lower[0] == "teams" and lower[2] == "allchannels":
        list_channels(handler, segs[1], params)
        return True
    return False


def _refuse_unsupported(params):
    for name in _UNSUPPORTED:
        if name in params:
            raise GraphError(400, "BadRequest",
                             "Query option '%s' is not supported by the emulator on this "
                             "resource." % name)


def _select_fields(params):
    sel = params.get("$select")
    if sel is None:
        return None
    fields = [s.strip() for s in sel.split(",") if s.strip()]
    if not fields:
        raise GraphError(400, "BadRequest", "The $select query option is empty.")
    return fields


def _apply_select(obj, fields):
    if fields is None:
        return obj
    wanted = {f.lower() for f in fields}
    return {k: v for k, v in obj.items() if k.lower() in wanted}


def _parse_expand(params):
    raw = params.get("$expand")
    if raw is None:
        return False
    names = [s.strip() for s in raw.split(",") if s.strip()]
    if not names:
        raise GraphError(400, "BadRequest", "The $expand query option is empty.")
    for name in names:
        if name.lower() != "members":
            raise GraphError(400, "BadRequest",
                             "Parsing OData Select and Expand failed: Could not find a "
                             "property named '%s' on type 'microsoft.graph.chat'." % name)
    return True


def list_chats(handler, key, params):
    tenant = handler.server.state.tenant
    _refuse_unsupported(params)
    expand = _parse_expand(params)
    fields = _select_fields(params)
    top_raw, top = paging.parse_top(params, DEFAULT_CHATS_TOP, MAX_CHATS_TOP, cap=False)
    user = tenant.find_user(key)
    if user is None:
        raise not_found_user(key)
    uid = str(user.get("id"))
    offset = 0
    if "$skiptoken" in params:
        handler.check_skiptoken_age(params["$skiptoken"])
        offset, _ = paging.read_skiptoken(params["$skiptoken"], "chats", uid)
    chats = directory.lists(tenant)[0].get(uid, [])
    pg = paging.plan_list_page(len(chats), top, offset)
    base = handler.base_url()
    context = "%s/v1.0/$metadata#chats" % base
    inner = list(fields or [])
    if expand:
        inner.append("members()")
    if inner:
        context += "(%s)" % ",".join(inner)
    items = []
    for chat in chats[pg.start:pg.end]:
        out = _apply_select(directory.served_chat(chat, False), fields)
        if expand:
            out["members@odata.context"] = "%s/v1.0/$metadata#chats('%s')/members" % (
                base, urllib.parse.quote(str(chat.get("id")), safe=""))
            out["members"] = list(chat.get("members") or [])[:MAX_EXPANDED_MEMBERS]
        items.append(out)
    body = {"@odata.context": context, "@odata.count": len(items)}
    if pg.next_state is not None:
        q = []
        if expand:
            q.append("$expand=" + paging.encode_query_value(params["$expand"]))
        if fields is not None:
            q.append("$select=" + paging.encode_query_value(params["$select"]))
        q.append("$top=%d" % top)
        q.append("$skiptoken=" + handler.issue_skiptoken(
            paging.make_skiptoken("chats", uid, pg.next_state[0], 1)))
        body["@odata.nextLink"] = "%s/v1.0/users/%s/chats?%s" % (
            base, urllib.parse.quote(uid, safe=""), "&".join(q))
    body["value"] = items
    handler.send_json(200, body)


def list_channels(handler, key, params):
    tenant = handler.server.state.tenant
    _refuse_unsupported(params)
    fields = _select_fields(params)
    team = tenant.find_team(key)
    if team is None:
        raise not_found_team(key)
    tid = str(team.get("id"))
    channels = directory.lists(tenant)[1].get(tid, [])
    context = "%s/v1.0/$metadata#teams('%s')/allChannels" % (
        handler.base_url(), urllib.parse.quote(tid, safe=""))
    if fields is not None:
        context += "(%s)" % ",".join(fields)
    values = [_apply_select(c, fields) for c in channels]
    handler.send_json(200, {"@odata.context": context, "@odata.count": len(values),
                            "value": values})
