"""HTTP side: the token endpoint, the Graph routes and the control API.

Request flow for everything except /_emulator/*:
  1. the request is logged (method, raw path, status, ...) for GET /_emulator/requests;
  2. an injected fault whose regex matches the raw path+query answers first;
  3. then the token endpoint, or the Graph routes (which check the bearer
     token before anything else).
Any exception in a handler becomes a 500 in Graph's error shape; the server
keeps running.
"""

import json
import re
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import paging
from .auth import TokenError
from .errors import GraphError, graph_error_body

GRAPH_JSON = ("application/json;odata.metadata=minimal;odata.streaming=true;"
              "IEEE754Compatible=false;charset=utf-8")
PLAIN_JSON = "application/json; charset=utf-8"
DIAGNOSTIC = ('{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0",'
              '"ScaleUnit":"000","RoleInstance":"graph-emulator"}}')

_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")
_KEYED_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\((.*)\)$", re.DOTALL)


class Faults:
    """Injected errors for requests whose raw path+query matches a regex."""

    def __init__(self):
        self._faults = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, spec):
        if not isinstance(spec, dict):
            raise GraphError(400, "BadRequest", "Fault must be a JSON object.")
        pattern = spec.get("match", "")
        if not isinstance(pattern, str):
            raise GraphError(400, "BadRequest", "'match' must be a string (a Python regex).")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise GraphError(400, "BadRequest", "Bad 'match' regex: %s" % exc)
        status = spec.get("status", 503)
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise GraphError(400, "BadRequest", "'status' must be an integer from 400 to 599.")
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or (count < 1 and count != -1):
            raise GraphError(400, "BadRequest", "'count' must be a positive integer or -1.")
        for name in ("retry_after", "delay"):
            v = spec.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise GraphError(400, "BadRequest", "'%s' must be a non-negative number." % name)
        for name in ("code", "message"):
            if spec.get(name) is not None and not isinstance(spec.get(name), str):
                raise GraphError(400, "BadRequest", "'%s' must be a string." % name)
        probe = GraphError(status, spec.get("code"), spec.get("message"))
        with self._lock:
            fault = {
                "id": self._next_id,
                "match": pattern,
                "status": status,
                "code": probe.code,
                "message": probe.message,
                "count": count,
                "retry_after": spec.get("retry_after"),
                "delay": spec.get("delay"),
                "drop": bool(spec.get("drop", False)),
                "hits": 0,
                "_re": regex,
            }
            self._next_id += 1
            self._faults.append(fault)
            return self._public(fault)

    @staticmethod
    def _public(fault):
        return {k: v for k, v in fault.items() if not k.startswith("_")}

    def take(self, raw_path):
        """The first live fault matching raw_path (consuming one use), or None."""
        with self._lock:
            for fault in self._faults:
                if fault["_re"].search(raw_path):
                    fault["hits"] += 1
                    if fault["count"] > 0:
                        fault["count"] -= 1
                        if fault["count"] == 0:
                            self._faults.remove(fault)
                    return self._public(fault)
        return None

    def list(self):
        with self._lock:
            return [self._public(f) for f in self._faults]

    def clear(self):
        with self._lock:
            n = len(self._faults)
            self._faults = []
            return n


class RequestLog:
    def __init__(self):
        self._items = []
        self._lock = threading.Lock()

    def add(self, entry):
        with self._lock:
            self._items.append(entry)

    def list(self):
        with self._lock:
            return list(self._items)

    def clear(self):
        with self._lock:
            n = len(self._items)
            self._items = []
            return n


class State:
    def __init__(self, tenant, authority, log_requests=False):
        self.tenant = tenant
        self.authority = authority
        self.faults = Faults()
        self.requests = RequestLog()
        self.log_requests = log_requests
        self.server = None


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, state):
        self.state = state
        state.server = self
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "graph-emulator/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    # -- plumbing ----------------------------------------------------------------

    def log_message(self, fmt, *args):
        if self.server.state.log_requests:
            sys.stderr.write("graph-emulator: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def read_body(self):
        try:
            return self._read_body()
        except ValueError:
            self.close_connection = True
            raise GraphError(400, "BadRequest", "Malformed request body framing.")

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(self, status, body, content_type=GRAPH_JSON, headers=None):
        self._status = status
        self.record()   # before the client can see the answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", self.request_id)
        self.send_header("client-request-id", self.client_request_id)
        self.send_header("x-ms-ags-diagnostic", DIAGNOSTIC)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self._sent = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, content_type=GRAPH_JSON, headers=None):
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_bytes(status, body, content_type, headers)

    def send_graph_error(self, err):
        body = graph_error_body(err.code, err.message, self.request_id, self.client_request_id)
        self.send_json(err.status, body, headers=err.headers)

    def base_url(self):
        host = self.headers.get("Host")
        if not host:
            h, p = self.server.server_address[:2]
            host = "%s:%d" % (h, p)
        return "http://" + host

    def record(self):
        """Add this request to the log once (control calls are not logged)."""
        if self._control or self._recorded:
            return
        self._recorded = True
        self.server.state.requests.add({
            "method": self.command,
            "path": self.path,
            "status": self._status,
            "authorization": self.headers.get("Authorization") is not None,
            "prefer": self.headers.get("Prefer"),
            "time": self._started,
        })

    def dispatch(self):
        state = self.server.state
        self.request_id = str(uuid.uuid4())
        self.client_request_id = self.headers.get("client-request-id") or self.request_id
        self._status = 0
        self._sent = False
        self._recorded = False
        self._started = time.time()
        raw = self.path
        split = urllib.parse.urlsplit(raw)
        path, query = split.path, split.query
        control = self._control = path.startswith("/_emulator/") or path == "/_emulator"
        try:
            body = self.read_body()
            if control:
                self.control(path, body)
                return
            fault = state.faults.take(raw)
            if fault is not None:
                self.apply_fault(fault)
                return
            m = _TOKEN_PATH.match(path)
            if m:
                self.token(urllib.parse.unquote(m.group(1)), body)
            elif path == "/v1.0" or path.startswith("/v1.0/"):
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

    def apply_fault(self, fault):
        if fault.get("delay"):
            time.sleep(fault["delay"])
        if fault.get("drop"):
            self._status = 0
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        headers = {}
        if fault.get("retry_after") is not None:
            ra = fault["retry_after"]
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        self.send_graph_error(GraphError(fault["status"], fault["code"], fault["message"],
                                         headers))

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

    def graph(self, path, query):
        state = self.server.state
        if not state.authority.check(self.headers.get("Authorization")):
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Access token has expired or is not yet valid.",
                             {"WWW-Authenticate":
                              'Bearer realm="", authorization_uri="https://login.microsoftonline.'
                              'com/common/oauth2/authorize", client_id="00000003-0000-0000-'
                              'c000-000000000000"'})
        if self.command != "GET":
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
        bad = segs[-1] if segs else ""
        raise GraphError(400, "BadRequest", "Resource not found for the segment '%s'." % bad)

    def list_entities(self, what, items, params):
        top_raw, top = paging.parse_top(params, paging.DEFAULT_LIST_TOP, paging.MAX_LIST_TOP,
                                        cap=False)
        offset = 0
        if "$skiptoken" in params:
            offset = paging.read_list_skiptoken(params["$skiptoken"], what)
        pg = paging.plan_list_page(len(items), top, offset)
        sel = params.get("$select")
        context = "%s/v1.0/$metadata#%s" % (self.base_url(), what)
        if sel:
            context += "(%s)" % ",".join(s.strip() for s in sel.split(",") if s.strip())
        body = {"@odata.context": context}
        if pg.next_state is not None:
            q = ["$top=%d" % top, "$skiptoken=" + paging.make_list_skiptoken(what, pg.next_state[0])]
            if sel:
                q.append("$select=" + paging.encode_query_value(sel))
            body["@odata.nextLink"] = "%s/v1.0/%s?%s" % (self.base_url(), what, "&".join(q))
        body["value"] = [select(x, params) for x in items[pg.start:pg.end]]
        self.send_json(200, body)

    def all_messages(self, kind, key, params):
        tenant = self.server.state.tenant
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
            offset, page = paging.read_skiptoken(params["$skiptoken"], kind, scope.id)
        prefer = "include-unknown-enum-members" in (self.headers.get("Prefer") or "").lower()
        idx = scope.select(clauses)
        pg = paging.plan_page(scope.key, len(idx), top, offset, page)
        items = [scope.rendered(idx[i], prefer) for i in range(pg.start, pg.end)]
        base = self.base_url()
        parts = ['"@odata.context":' + json.dumps(base + "/v1.0/$metadata#Collection(chatMessage)"),
                 '"@odata.count":%d' % len(items)]
        if pg.next_state is not None:
            q = []
            if top_raw is not None:
                q.append("$top=%d" % top_raw)
            q.append("$skiptoken=" + paging.make_skiptoken(kind, scope.id, *pg.next_state))
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

    # -- control API -----------------------------------------------------------------------------

    def control(self, path, body):
        state = self.server.state
        route = (self.command, path.rstrip("/"))
        if route == ("GET", "/_emulator/tenant"):
            return self.send_bytes(200, state.tenant.snapshot_bytes(), PLAIN_JSON)
        if route == ("GET", "/_emulator/requests"):
            return self.send_json(200, state.requests.list(), PLAIN_JSON)
        if route == ("POST", "/_emulator/requests/clear"):
            return self.send_json(200, {"cleared": state.requests.clear()}, PLAIN_JSON)
        if route == ("POST", "/_emulator/faults"):
            try:
                spec = json.loads(body.decode("utf-8") or "null")
            except (ValueError, UnicodeDecodeError) as exc:
                raise GraphError(400, "BadRequest", "Body is not JSON: %s" % exc)
            return self.send_json(201, state.faults.add(spec), PLAIN_JSON)
        if route == ("GET", "/_emulator/faults"):
            return self.send_json(200, state.faults.list(), PLAIN_JSON)
        if route == ("DELETE", "/_emulator/faults"):
            return self.send_json(200, {"cleared": state.faults.clear()}, PLAIN_JSON)
        if route == ("POST", "/_emulator/tokens/expire"):
            return self.send_json(200, {"expired": state.authority.expire_all()}, PLAIN_JSON)
        if route == ("GET", "/_emulator/health"):
            return self.send_json(200, {"status": "ok"}, PLAIN_JSON)
        if route == ("POST", "/_emulator/shutdown"):
            self.close_connection = True
            self.send_json(200, {"status": "shutting down"}, PLAIN_JSON)
            threading.Thread(target=state.server.shutdown, daemon=True).start()
            return None
        raise GraphError(404, "NotFound", "No control route %s %s." % route)


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


def select(obj, params):
    sel = params.get("$select")
    if not sel:
        return obj
    wanted = {s.strip().lower() for s in sel.split(",") if s.strip()}
    return {k: v for k, v in obj.items() if k.lower() in wanted}


def not_found_user(key):
    return GraphError(404, "Request_ResourceNotFound",
                      "Resource '%s' does not exist or one of its queried reference-property "
                      "objects are not present." % key)


def not_found_team(key):
    return GraphError(404, "NotFound", "No team found with Group Id %s" % key)
