"""HTTP side of the Graph origin: the token endpoint and the Graph routes.

Request flow for everything except /_emulator/* (control.py):
  1. the request is logged (method, raw path, status, ...) for GET /_emulator/requests;
  2. /v1.0 requests wait the configured latency;
  3. an injected fault whose regex matches the raw path+query answers first
     (faults.py);
  4. then the token endpoint, or the Graph routes (which check the bearer
     token before anything else).
Any exception in a handler becomes a 500 in Graph's error shape; the server
keeps running. Files and hosted contents are in media_routes.py, file bytes
on the download origin (downloads.py).
"""

import json
import re
import sys
import time
import traceback
import urllib.parse

from . import control
from . import directory_routes
from . import faults
from . import media_routes
from . import paging
from .auth import TokenError
from .downloads import Signer
from .errors import GraphError, not_found_team, not_found_user
from .faults import Faults
from .httpbase import PLAIN_JSON, BaseHandler, EventLog, QuietServer
from .live import LiveEditor
from .routing import message_key, split_segments  # noqa: F401  (split_segments: old import path)
from .settings import Config, SkipTokenLedger

DIAGNOSTIC = ('{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0",'
              '"ScaleUnit":"000","RoleInstance":"graph-emulator"}}')

_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")


class State:
    """Everything the handlers of both origins share."""

    def __init__(self, tenant, authority, log_requests=False, config=None):
        self.tenant = tenant
        self.authority = authority
        self.config = config if config is not None else Config(authority)
        self.faults = Faults()
        self.requests = EventLog()
        self.downloads = EventLog()
        self.skiptokens = SkipTokenLedger()
        self.signer = Signer()
        self.live = LiveEditor(tenant)
        self.log_requests = log_requests
        self.server = None
        self.download_server = None
        self.download_base = None      # "http://HOST:PORT" of the download origin

    def shutdown(self):
        """Stop the Graph origin; cli.main then stops the download origin."""
        if self.server is not None:
            self.server.shutdown()


class EmulatorServer(QuietServer):
    def __init__(self, address, state):
        self.state = state
        state.server = self
        super().__init__(address, Handler)


class Handler(BaseHandler):

    # -- plumbing ----------------------------------------------------------------

    def extra_headers(self):
        return {"request-id": self.request_id, "client-request-id": self.client_request_id,
                "x-ms-ags-diagnostic": DIAGNOSTIC}

    def log_target(self):
        return None if self._control else self.server.state.requests

    def log_entry(self):
        return {
            "method": self.command,
            "path": self.path,
            "status": self._status,
            "authorization": self.headers.get("Authorization") is not None,
            "prefer": self.headers.get("Prefer"),
            "time": self._started,
        }

    def base_url(self):
        host = self.headers.get("Host")
        if not host:
            h, p = self.server.server_address[:2]
            host = "%s:%d" % (h, p)
        return "http://" + host

    def dispatch(self):
        state = self.server.state
        raw = self.path
        split = urllib.parse.urlsplit(raw)
        path, query = split.path, split.query
        graph = path == "/v1.0" or path.startswith("/v1.0/")
        self._control = path.startswith("/_emulator/") or path == "/_emulator"
        try:
            body = self.read_body()
            if self._control:
                control.handle(self, path, body)
                return
            if graph and state.config.latency_ms:
                time.sleep(state.config.latency())
            fault = state.faults.take(raw)
            if fault is not None and faults.apply(self, fault):
                return
            m = _TOKEN_PATH.match(path)
            if m:
                self.token(urllib.parse.unquote(m.group(1)), body)
            elif graph:
                self.graph(path, query)
            else:
                raise GraphError(404, "NotFound", "No route for '%s'." % path)
        except GraphError as err:
            self.send_graph_error(err)
        except Exception:  # a bug in a handler: answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            if not self._sent:
                try:
                    self.send_graph_error(GraphError(
                        500, "InternalServerError",
                        "The emulator failed while handling this request."))
                except OSError:
                    self.close_connection = True
            else:
                self.close_connection = True
        finally:
            self.record()   # requests that got no answer (dropped connections)

    # -- token endpoint ------------------------------------------------------------------

    def token(self, tenant, body):
        if self.command != "POST":
            self.send_json(405, {"error": "invalid_request",
                                 "error_description": "AADSTS900561: The endpoint only "
                                                      "accepts POST requests."},
                           content_type=PLAIN_JSON)
            return
        form = {}
        for name, value in urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                                  keep_blank_values=True):
            form.setdefault(name, value)
        try:
            answer = self.server.state.authority.issue(tenant, form,
                                                       self.headers.get("Authorization"))
        except TokenError as err:
            self.send_json(err.status, err.body, content_type=PLAIN_JSON,
                           headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
            return
        self.send_json(200, answer, content_type=PLAIN_JSON,
                       headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    # -- Graph ------------------------------------------------------------------------------


    # -- Graph ------------------------------------------------------------------------------

    def graph(self, path, query):
        state = self.server.state
        if not state.authority.check(self.headers.get("Authorization")):
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Access token has expired or is not yet valid.",
                             {"WWW-Authenticate":
                              'Bearer realm="", authorization_uri="https://login.microsoftonline.'
                              'com/common/oauth2/authorize", client_id="00000003-0000-0000-'
                              'c000-000000000000"'})
        # HEAD is answered for raw content ($value), as for GET without the body.
        if self.command != "GET" and not (self.command == "HEAD"
                                          and path.lower().endswith("/$value")):
            raise GraphError(405, "Request_BadRequest",
                             "Specified HTTP method is not allowed for the request target.")
        segs = split_segments(path[len("/v1.0"):])
        lower = [s.lower() for s in segs]
        params = paging.parse_query(query)
        tenant = state.tenant
        if lower == ["users"]:
            return self.list_entities("users", tenant.users, params)
        if lower == ["teams"]:
            return self.list_entities("teams", tenant.teams, params)
        if len(segs) == 2 and lower[0] == "users":
            user = tenant.find_user(segs[1])
            if user is None:
                raise not_found_user(segs[1])
            return self.send_json(200, dict([("@odata.context", self.base_url()
                                              + "/v1.0/$metadata#users/$entity")]
                                            + list(select(user, params).items())))
        if len(segs) == 2 and lower[0] == "teams":
            team = tenant.find_team(segs[1])
            if team is None:
                raise not_found_team(segs[1])
            return self.send_json(200, dict([("@odata.context", self.base_url()
                                              + "/v1.0/$metadata#teams/$entity")]
                                            + list(team.items())))
        if len(segs) == 4 and lower[3] == "getallmessages" and (
                (lower[0], lower[2]) in (("users", "chats"), ("teams", "channels"))):
            return self.all_messages(lower[0], segs[1], params)
        if directory_routes.handle(self, segs, lower, params):
            return None
        if len(segs) >= 2 and lower[0] == "shares":
            return media_routes.shares(self, segs, params, select)
        found = message_key(segs)
        if found is not None and found[1] and found[1][0].lower() == "hostedcontents":
            return media_routes.hosted(self, found[0], found[1])
        bad = segs[-1] if segs else ""
        raise GraphError(400, "BadRequest", "Resource not found for the segment '%s'." % bad)

    def list_entities(self, what, items, params):
        top_raw, top = paging.parse_top(params, paging.DEFAULT_LIST_TOP, paging.MAX_LIST_TOP,
                                        cap=False)
        offset = 0
        if "$skiptoken" in params:
            self.check_skiptoken_age(params["$skiptoken"])
            offset = paging.read_list_skiptoken(params["$skiptoken"], what)
        pg = paging.plan_list_page(len(items), top, offset)
        sel = params.get("$select")
        context = "%s/v1.0/$metadata#%s" % (self.base_url(), what)
        if sel:
            context += "(%s)" % ",".join(s.strip() for s in sel.split(",") if s.strip())
        body = {"@odata.context": context}
        if pg.next_state is not None:
            q = ["$top=%d" % top, "$skiptoken=" + self.issue_skiptoken(
                paging.make_list_skiptoken(what, pg.next_state[0]))]
            if sel:
                q.append("$select=" + paging.encode_query_value(sel))
            body["@odata.nextLink"] = "%s/v1.0/%s?%s" % (self.base_url(), what, "&".join(q))
        body["value"] = [select(x, params) for x in items[pg.start:pg.end]]
        self.send_json(200, body)


    def check_skiptoken_age(self, token):
        ttl = self.server.state.config.skiptoken_ttl
        if ttl is not None and self.server.state.skiptokens.expired(token.replace(" ", "+"), ttl):
            raise GraphError(400, "BadRequest", paging.EXPIRED_MESSAGE)

    def issue_skiptoken(self, encoded):
        """Note when a (URL-encoded) token is handed out; returns it."""
        self.server.state.skiptokens.issued(urllib.parse.unquote(encoded))
        return encoded

    def all_messages(self, kind, key, params):
        state = self.server.state
        tenant = state.tenant
        model = params.get("model")
        if model is not None and model not in ("A", "B"):
            raise GraphError(400, "BadRequest",
                             "Invalid model '%s'. Supported values are 'A' and 'B'." % model)
        top_raw, top = paging.parse_top(params, paging.DEFAULT_MESSAGES_TOP,
                                        paging.MAX_MESSAGES_TOP, cap=True)
        filter_text = params.get("$filter")
        clauses = paging.parse_filter(filter_text)
        if kind == "users":
            owner = tenant.find_user(key)
            if owner is None:
                raise not_found_user(key)
        else:
            owner = tenant.find_team(key)
            if owner is None:
                raise not_found_team(key)
        scope = tenant.scope(kind, owner.get("id"))
        offset, page = 0, 0
        if "$skiptoken" in params:
            self.check_skiptoken_age(params["$skiptoken"])
            offset, page = paging.read_skiptoken(params["$skiptoken"], kind, scope.id)
        prefer = "include-unknown-enum-members" in (self.headers.get("Prefer") or "").lower()
        idx = scope.select(clauses)
        pg = paging.plan_page(scope.key, len(idx), top, offset, page)
        items = [scope.rendered(idx[i], prefer) for i in range(pg.start, pg.end)]
        next_state = pg.next_state
        repeat_from = state.config.repeat_from_page()
        if repeat_from is not None and page >= 1 and page + 1 >= repeat_from:
            next_state = (offset, page)     # the link that led here: a loop
        base = self.base_url()
        parts = ['"@odata.context":' + json.dumps(base + "/v1.0/$metadata#Collection(chatMessage)"),
                 '"@odata.count":%d' % len(items)]
        if next_state is not None:
            q = []
            if top_raw is not None:
                q.append("$top=%d" % top_raw)
            q.append("$skiptoken=" + self.issue_skiptoken(
                paging.make_skiptoken(kind, scope.id, *next_state)))
            if filter_text is not None:
                q.append("$filter=" + paging.encode_query_value(filter_text))
            if model is not None:
                q.append("model=" + paging.encode_query_value(model))
            link = "%s/v1.0/%s('%s')/%s/getallMessages?%s" % (
                base, kind, paging.odata_key(scope.id),
                "chats" if kind == "users" else "channels", "&".join(q))
            parts.append('"@odata.nextLink":' + json.dumps(link))
        elif pg.null_link:
            parts.append('"@odata.nextLink":null')
        body = "{" + ",".join(parts) + ',"value":[' + ",".join(items) + "]}"
        self.send_bytes(200, body.encode("utf-8"))


def select(obj, params):
    sel = params.get("$select")
    if not sel:
        return obj
    wanted = {s.strip().lower() for s in sel.split(",") if s.strip()}
    return {k: v for k, v in obj.items() if k.lower() in wanted}
