"""Tests of the Graph emulator itself (contrib/graph-emulator).

Run from the repository root:
    python3 -m unittest discover -s tests/integration -p 'test_emulator.py' -v

Every emulator is started on 127.0.0.1 with --port 0 and --port-file and is
stopped again; all traffic stays on loopback (proxies are bypassed).
"""

import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMU_DIR = os.path.join(ROOT, "contrib", "graph-emulator")
EMULATOR = os.path.join(EMU_DIR, "graph-emulator")
SAMPLES = os.path.join(ROOT, "tests", "data", "samples")

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "teamsfs-demo"
SECRET = "demo-secret"
SCOPE = "https://graph.microsoft.com/.default"
PREFER = "include-unknown-enum-members"

GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$")
CHANNEL_RE = re.compile(r"^19:[0-9a-f]{32}@thread\.tacv2$")
GROUP_RE = re.compile(r"^19:[0-9a-f]{32}@thread\.v2$")
MEETING_RE = re.compile(r"^19:meeting_[A-Za-z0-9+/]+=*@thread\.v2$")
ONE_ON_ONE_RE = re.compile(r"^19:[0-9a-f-]{36}_[0-9a-f-]{36}@unq\.gbl\.spaces$")

MESSAGE_KEYS = ["id", "replyToId", "etag", "messageType", "createdDateTime",
                "lastModifiedDateTime", "lastEditedDateTime", "deletedDateTime", "subject",
                "summary", "chatId", "channelIdentity", "importance", "locale", "webUrl", "from",
                "body", "attachments", "mentions", "reactions", "messageHistory",
                "policyViolation", "eventDetail"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- helpers -------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw

    def json(self):
        return json.loads(self.raw.decode("utf-8"))


def http(method, url, body=None, headers=None, timeout=30):
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        data = body.encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=timeout) as f:
            return Response(f.status, f.headers, f.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


def parse_ts(text):
    """Lenient timestamp -> (seconds, fraction as 7-digit int); None if unreadable.
    Independent of the emulator's own parser on purpose."""
    if not isinstance(text, str):
        return None
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T?(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?Z$", text)
    if not m:
        return None
    dt = datetime.datetime(*(int(m.group(i)) for i in range(1, 7)),
                           tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 10_000_000 + int((m.group(7) or "").ljust(7, "0"))


def msg_time(m):
    t = parse_ts(m.get("lastModifiedDateTime"))
    return t if t is not None else parse_ts(m.get("createdDateTime"))


def container(m):
    if m.get("chatId") is not None or "channelIdentity" not in m or not m.get("channelIdentity"):
        return m.get("chatId")
    return m["channelIdentity"].get("channelId")


def newest_per_key(messages):
    """The spec's rule: per (container, id) the newest lastModifiedDateTime wins,
    ties go to the later one. Messages without an id are all kept."""
    best = {}
    anon = []
    for m in messages:
        if not isinstance(m.get("id"), str):
            anon.append(m)
            continue
        key = (container(m), m["id"])
        old = best.get(key)
        if old is None or (msg_time(m) or 0) >= (msg_time(old) or 0):
            best[key] = m
    return best, anon


class Emulator:
    """A graph-emulator subprocess on 127.0.0.1 with a random port."""

    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="emu-test-")
        port_file = os.path.join(self.tmp, "port")
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--host", "127.0.0.1", "--port", "0",
             "--port-file", port_file] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("emulator exited: %s" % self.proc.stderr.read())
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.banner = self.proc.stdout.readline().strip()
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            try:
                http("POST", self.base + "/_emulator/shutdown", b"", timeout=5)
            except (OSError, AttributeError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- client side -------------------------------------------------------------

    def token_response(self, tenant=TENANT, client_id=CLIENT, secret=SECRET, scope=SCOPE):
        form = urllib.parse.urlencode({"client_id": client_id, "client_secret": secret,
                                       "grant_type": "client_credentials", "scope": scope})
        return http("POST", "%s/%s/oauth2/v2.0/token" % (self.base, tenant), form,
                     {"Content-Type": "application/x-www-form-urlencoded"})

    def token(self, **kw):
        r = self.token_response(**kw)
        assert r.status == 200, r.raw
        return r.json()["access_token"]

    def get(self, url, token=None, prefer=True, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if prefer:
            h["Prefer"] = PREFER
        if url.startswith("/"):
            url = self.base + url
        return http("GET", url, headers=h)

    def crawl(self, first_url, token, prefer=True):
        """Follow next links verbatim; returns the list of page bodies."""
        pages = []
        url = first_url
        while True:
            r = self.get(url, token, prefer)
            if r.status != 200:
                raise AssertionError("%s -> %d %s" % (url, r.status, r.raw[:300]))
            body = r.json()
            pages.append(body)
            if len(pages) > 5000:
                raise AssertionError("paging does not end")
            link = body.get("@odata.nextLink")
            if not link:
                return pages
            url = link

    def tenant(self):
        return self.get("/_emulator/tenant", prefer=False).json()


def scope_url(kind, ident, query=""):
    sub = "chats" if kind == "users" else "channels"
    return "/v1.0/%s/%s/%s/getAllMessages%s" % (kind, urllib.parse.quote(ident), sub, query)


EMU = None
TENANT_DATA = None


def setUpModule():
    global EMU, TENANT_DATA
    EMU = Emulator()
    TENANT_DATA = EMU.tenant()


def tearDownModule():
    if EMU:
        EMU.stop()


# -- tests -----------------------------------------------------------------------------

class StartupTests(unittest.TestCase):
    def test_banner_and_port_file(self):
        self.assertEqual(EMU.banner, "graph-emulator: listening on http://127.0.0.1:%d" % EMU.port)


class TokenTests(unittest.TestCase):
    def test_good_token(self):
        r = EMU.token_response()
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertEqual(body["ext_expires_in"], 3600)
        self.assertIsInstance(body["access_token"], str)
        self.assertGreater(len(body["access_token"]), 20)
        self.assertNotEqual(body["access_token"], EMU.token())

    def check_aad_error(self, r, status, error, code):
        self.assertEqual(r.status, status, r.raw)
        body = r.json()
        self.assertEqual(body["error"], error)
        self.assertEqual(body["error_codes"], [code])
        self.assertTrue(body["error_description"].startswith("AADSTS%d:" % code))
        for key in ("timestamp", "trace_id", "correlation_id"):
            self.assertIn(key, body)

    def test_bad_secret(self):
        self.check_aad_error(EMU.token_response(secret="nope"), 401, "invalid_client", 7000215)

    def test_bad_client(self):
        self.check_aad_error(EMU.token_response(client_id="someone-else"), 401,
                             "invalid_client", 7000215)

    def test_unknown_tenant(self):
        self.check_aad_error(EMU.token_response(tenant="00000000-0000-0000-0000-000000000000"),
                             400, "invalid_request", 90002)

    def test_bad_scope(self):
        r = EMU.token_response(scope="https://graph.microsoft.com/User.Read")
        self.assertEqual(r.status, 400)


class AuthTests(unittest.TestCase):
    def check_401(self, r):
        self.assertEqual(r.status, 401)
        err = r.json()["error"]
        self.assertEqual(err["code"], "InvalidAuthenticationToken")
        self.assertEqual(err["message"], "Access token has expired or is not yet valid.")
        self.assertEqual(set(err["innerError"]), {"date", "request-id", "client-request-id"})

    def test_missing_token(self):
        self.check_401(EMU.get("/v1.0/users"))

    def test_invalid_token(self):
        self.check_401(EMU.get("/v1.0/users", token="not-a-token"))

    def test_wrong_scheme(self):
        tok = EMU.token()
        self.check_401(EMU.get("/v1.0/users", headers={"Authorization": "Basic " + tok}))

    def test_expiry_and_custom_credentials(self):
        emu = Emulator("--token-lifetime", "1", "--tenant-id", "contoso-tenant",
                       "--client-id", "my-app", "--client-secret-file", self.secret_file(),
                       "--scale", "0.05")
        try:
            self.assertEqual(emu.token_response(tenant="contoso-tenant", client_id="my-app",
                                                secret=SECRET).status, 401)
            r = emu.token_response(tenant="contoso-tenant", client_id="my-app", secret="s3 cret")
            self.assertEqual(r.status, 200, r.raw)
            self.assertEqual(r.json()["expires_in"], 1)
            tok = r.json()["access_token"]
            self.assertEqual(emu.get("/v1.0/users", tok).status, 200)
            time.sleep(1.3)
            self.check_401(emu.get("/v1.0/users", tok))
            fresh = emu.token(tenant="contoso-tenant", client_id="my-app", secret="s3 cret")
            self.assertEqual(emu.get("/v1.0/users", fresh).status, 200)
        finally:
            emu.stop()

    def secret_file(self):
        fd, path = tempfile.mkstemp(prefix="emu-secret-")
        with os.fdopen(fd, "w") as f:
            f.write("s3 cret\nsecond line ignored\n")
        self.addCleanup(os.unlink, path)
        return path

    def test_control_expire_tokens(self):
        emu = Emulator("--scale", "0.05")
        try:
            tok = emu.token()
            self.assertEqual(emu.get("/v1.0/teams", tok).status, 200)
            http("POST", emu.base + "/_emulator/tokens/expire", b"")
            self.check_401(emu.get("/v1.0/teams", tok))
        finally:
            emu.stop()


class ListTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()

    def test_users_paged(self):
        pages = EMU.crawl(EMU.base + "/v1.0/users?$top=3&$select=id,displayName", self.tok)
        self.assertGreaterEqual(len(pages), 3)
        users = [u for p in pages for u in p["value"]]
        self.assertEqual([u["id"] for u in users], [u["id"] for u in TENANT_DATA["users"]])
        self.assertTrue(all(set(u) == {"id", "displayName"} for u in users))
        self.assertTrue(pages[0]["@odata.nextLink"].startswith(EMU.base + "/v1.0/users?"))

    def test_users_default_and_limits(self):
        body = EMU.get("/v1.0/users", self.tok).json()
        self.assertNotIn("@odata.nextLink", body)
        self.assertGreaterEqual(len(body["value"]), 6)
        for u in body["value"]:
            self.assertRegex(u["id"], GUID_RE)
            self.assertIn("userPrincipalName", u)
        self.assertEqual(EMU.get("/v1.0/users?$top=999", self.tok).status, 200)
        self.assertEqual(EMU.get("/v1.0/users?$top=1000", self.tok).status, 400)

    def test_teams(self):
        pages = EMU.crawl(EMU.base + "/v1.0/teams?$top=2", self.tok)
        teams = [t for p in pages for t in p["value"]]
        self.assertEqual(len(teams), 3)
        for t in teams:
            self.assertEqual(set(t), {"id", "displayName", "description"})

    def test_unknown_scope_404(self):
        for url in (scope_url("users", "00000000-0000-0000-0000-000000000000"),
                    scope_url("teams", "00000000-0000-0000-0000-000000000000")):
            r = EMU.get(url, self.tok)
            self.assertEqual(r.status, 404)
            self.assertIn("code", r.json()["error"])

    def test_unknown_segment(self):
        r = EMU.get("/v1.0/nothing/here", self.tok)
        self.assertIn(r.status, (400, 404))
        self.assertIn("error", r.json())


class PagingTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()

    def scopes(self):
        for uid, stream in TENANT_DATA["chatMessages"].items():
            yield "users", uid, stream
        for tid, stream in TENANT_DATA["channelMessages"].items():
            yield "teams", tid, stream

    def test_every_scope_pages_to_its_stream(self):
        ends = collections.Counter()
        empty_with_link = 0
        for kind, ident, stream in self.scopes():
            pages = EMU.crawl(EMU.base + scope_url(kind, ident, "?$top=20"), self.tok)
            got = [m for p in pages for m in p["value"]]
            self.assertEqual(got, stream, "%s %s" % (kind, ident))
            for p in pages:
                self.assertEqual(p["@odata.count"], len(p["value"]))
                self.assertLessEqual(len(p["value"]), 20)
                self.assertTrue(p["@odata.context"].startswith(EMU.base + "/v1.0/$metadata#"))
                self.assertEqual(list(p)[-1], "value")
                link = p.get("@odata.nextLink")
                if link:
                    sub = "chats" if kind == "users" else "channels"
                    self.assertTrue(link.startswith("%s/v1.0/%s('%s')/%s/getallMessages?"
                                                    % (EMU.base, kind, ident, sub)), link)
                    self.assertRegex(link, r"\$skiptoken=[A-Za-z0-9%]+%3d(&|$)")
                    self.assertIn("$top=20", link)
                    if not p["value"]:
                        empty_with_link += 1
            ends["null" if "@odata.nextLink" in pages[-1] else "absent"] += 1
            for m in got:
                self.assertEqual(m.get("@odata.type"), "#microsoft.graph.chatMessage")
        self.assertGreater(empty_with_link, 0)
        self.assertGreater(ends["null"], 0)
        self.assertGreater(ends["absent"], 0)

    def test_big_scope(self):
        uid = TENANT_DATA["users"][0]["id"]
        stream = TENANT_DATA["chatMessages"][uid]
        best, _ = newest_per_key(stream)
        self.assertGreaterEqual(len(best), 1000)
        start = time.time()
        pages = EMU.crawl(EMU.base + scope_url("users", uid, "?$top=50"), self.tok)
        elapsed = time.time() - start
        self.assertGreaterEqual(len(pages), 20)
        self.assertEqual([m for p in pages for m in p["value"]], stream)
        self.assertLess(elapsed, 5.0)
        short = [p for p in pages[:-1] if 0 < len(p["value"]) < 50]
        self.assertTrue(short, "expected short pages with a next link")

    def test_duplicates_and_stale_versions(self):
        uid = TENANT_DATA["users"][0]["id"]
        pages = EMU.crawl(EMU.base + scope_url("users", uid, "?$top=20"), self.tok)
        seen = {}
        repeats_later = 0
        stale_first = stale_last = 0
        for n, p in enumerate(pages):
            for m in p["value"]:
                key = (container(m), m.get("id"))
                if key in seen:
                    first_page, first = seen[key]
                    if first == m and first_page < n:
                        repeats_later += 1
                    elif first != m and first_page < n:
                        if msg_time(first) < msg_time(m):
                            stale_first += 1
                        else:
                            stale_last += 1
                            self.assertNotEqual(first["body"], m["body"])
                else:
                    seen[key] = (n, m)
        self.assertGreater(repeats_later, 0)
        self.assertGreater(stale_first, 0)
        self.assertGreater(stale_last, 0)

    def test_prefer_header(self):
        uid = TENANT_DATA["users"][0]["id"]
        stream = TENANT_DATA["chatMessages"][uid]
        pages = EMU.crawl(EMU.base + scope_url("users", uid, "?$top=50"), self.tok, prefer=False)
        got = [m for p in pages for m in p["value"]]
        self.assertEqual(len(got), len(stream))
        converted = 0
        for plain, full in zip(got, stream):
            if full["messageType"] == "systemEventMessage":
                self.assertEqual(plain["messageType"], "unknownFutureValue")
                self.assertEqual(dict(plain, messageType="systemEventMessage"), full)
                converted += 1
            else:
                self.assertEqual(plain, full)
        self.assertGreater(converted, 0)

    def test_path_forms(self):
        uid = TENANT_DATA["users"][0]["id"]
        tid = TENANT_DATA["teams"][0]["id"]
        a = EMU.get(scope_url("users", uid, "?$top=5"), self.tok).json()
        for path in ("/v1.0/users('%s')/chats/getallMessages?$top=5" % uid,
                     "/v1.0/users(%%27%s%%27)/chats/GETALLMESSAGES?$top=5" % uid,
                     "/v1.0/users/%s/chats/getallmessages/?%%24top=5" % uid):
            b = EMU.get(path, self.tok).json()
            self.assertEqual(a["value"], b["value"], path)
            self.assertEqual(a["@odata.nextLink"], b["@odata.nextLink"])
        c = EMU.get(scope_url("teams", tid, "?$top=5"), self.tok).json()
        d = EMU.get("/v1.0/teams('%s')/channels/getallMessages?$top=5" % tid, self.tok).json()
        self.assertEqual(c, d)
        self.assertEqual(EMU.get("/v1.0/users/%s/channels/getAllMessages" % uid,
                                 self.tok).status, 400)

    def test_top_default_and_cap(self):
        tid = TENANT_DATA["teams"][1]["id"]
        first = EMU.get(scope_url("teams", tid), self.tok).json()
        self.assertLessEqual(len(first["value"]), 20)
        self.assertNotIn("$top", first["@odata.nextLink"])
        uid = TENANT_DATA["users"][0]["id"]
        pages = EMU.crawl(EMU.base + scope_url("users", uid, "?$top=500"), self.tok)
        self.assertTrue(all(len(p["value"]) <= 50 for p in pages))
        self.assertTrue(any(len(p["value"]) == 50 for p in pages))
        self.assertIn("$top=500", pages[0]["@odata.nextLink"])
        self.assertEqual(EMU.get(scope_url("teams", tid, "?$top=0"), self.tok).status, 400)
        self.assertEqual(EMU.get(scope_url("teams", tid, "?$top=x"), self.tok).status, 400)

    def test_model(self):
        tid = TENANT_DATA["teams"][0]["id"]
        for model in ("A", "B"):
            pages = EMU.crawl(EMU.base + scope_url("teams", tid, "?model=" + model), self.tok)
            self.assertTrue(all(("model=" + model) in p["@odata.nextLink"]
                                for p in pages[:-1]))
            self.assertEqual([m for p in pages for m in p["value"]],
                             TENANT_DATA["channelMessages"][tid])
        r = EMU.get(scope_url("teams", tid, "?model=C"), self.tok)
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["code"], "BadRequest")

    def test_bad_skiptoken(self):
        uid = TENANT_DATA["users"][0]["id"]
        other = TENANT_DATA["users"][1]["id"]
        self.assertEqual(EMU.get(scope_url("users", uid, "?$skiptoken=garbage"),
                                 self.tok).status, 400)
        link = EMU.get(scope_url("users", uid), self.tok).json()["@odata.nextLink"]
        stolen = link.replace(uid, other)
        self.assertEqual(EMU.get(stolen, self.tok).status, 400)

    def test_empty_scope(self):
        empty = [u for u, s in TENANT_DATA["chatMessages"].items() if not s]
        self.assertTrue(empty, "expected a user without chats")
        body = EMU.get(scope_url("users", empty[0]), self.tok).json()
        self.assertEqual(body["value"], [])
        self.assertEqual(body["@odata.count"], 0)
        self.assertFalse(body.get("@odata.nextLink"))


class FilterTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()
        cls.uid = TENANT_DATA["users"][0]["id"]
        cls.stream = TENANT_DATA["chatMessages"][cls.uid]
        times = sorted(msg_time(m) for m in cls.stream)
        cls.lo_text = [m["lastModifiedDateTime"] for m in cls.stream
                       if msg_time(m) == times[len(times) // 3]][0]
        cls.hi_text = [m["lastModifiedDateTime"] for m in cls.stream
                       if msg_time(m) == times[2 * len(times) // 3]][0]

    def crawl_filter(self, expr):
        q = "?$top=25&$filter=" + urllib.parse.quote(expr)
        pages = EMU.crawl(EMU.base + scope_url("users", self.uid, q), self.tok)
        for p in pages[:-1]:
            link = p["@odata.nextLink"]
            self.assertIn("$filter=lastModifiedDateTime+", link)
            self.assertNotIn(" ", link)
            self.assertIn("%3a", link)
        return [m for p in pages for m in p["value"]]

    def test_gt(self):
        lo = parse_ts(self.lo_text)
        got = self.crawl_filter("lastModifiedDateTime gt " + self.lo_text)
        self.assertEqual(got, [m for m in self.stream if msg_time(m) > lo])
        self.assertTrue(got)

    def test_window(self):
        lo, hi = parse_ts(self.lo_text), parse_ts(self.hi_text)
        got = self.crawl_filter("lastModifiedDateTime ge %s and lastModifiedDateTime lt %s"
                                % (self.lo_text, self.hi_text))
        self.assertEqual(got, [m for m in self.stream if lo <= msg_time(m) < hi])
        got = self.crawl_filter("lastModifiedDateTime gt %s and lastModifiedDateTime le %s"
                                % (self.lo_text, self.hi_text))
        self.assertEqual(got, [m for m in self.stream if lo < msg_time(m) <= hi])

    def test_far_future(self):
        self.assertEqual(self.crawl_filter("lastModifiedDateTime gt 2099-01-01T00:00:00Z"), [])

    def test_bad_filters(self):
        for expr in ("lastModifiedDateTime gt '2024-01-01T00:00:00Z'",
                     "createdDateTime gt 2024-01-01T00:00:00Z",
                     "lastModifiedDateTime eq 2024-01-01T00:00:00Z",
                     "lastModifiedDateTime gt yesterday",
                     ""):
            r = EMU.get(scope_url("users", self.uid, "?$filter=" + urllib.parse.quote(expr)),
                        self.tok)
            self.assertEqual(r.status, 400, expr)
            self.assertEqual(r.json()["error"]["code"], "BadRequest")


class FaultTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()
        cls.uid = TENANT_DATA["users"][0]["id"]

    def tearDown(self):
        http("DELETE", EMU.base + "/_emulator/faults")

    def add(self, spec):
        r = http("POST", EMU.base + "/_emulator/faults", spec,
                 {"Content-Type": "application/json"})
        self.assertIn(r.status, (200, 201), r.raw)
        return r.json()

    def test_throttle_with_retry_after(self):
        self.add({"match": "(?i)/chats/getallmessages", "status": 429, "count": 2,
                  "retry_after": 2})
        url = scope_url("users", self.uid, "?$top=5")
        for _ in range(2):
            r = EMU.get(url, self.tok)
            self.assertEqual(r.status, 429)
            self.assertEqual(r.headers.get("Retry-After"), "2")
            err = r.json()["error"]
            self.assertEqual(err["code"], "TooManyRequests")
            self.assertIn("request-id", err["innerError"])
        self.assertEqual(EMU.get(url, self.tok).status, 200)

    def test_forever_until_deleted(self):
        self.add({"match": "^/v1\\.0/teams", "status": 503, "code": "serviceNotAvailable",
                  "message": "Try later", "count": -1, "retry_after": 1})
        for _ in range(3):
            r = EMU.get("/v1.0/teams", self.tok)
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["error"]["message"], "Try later")
            self.assertEqual(r.json()["error"]["code"], "serviceNotAvailable")
        listed = http("GET", EMU.base + "/_emulator/faults").json()
        self.assertEqual(len(listed), 1)
        http("DELETE", EMU.base + "/_emulator/faults")
        self.assertEqual(EMU.get("/v1.0/teams", self.tok).status, 200)

    def test_forbidden_on_one_scope_only(self):
        tid = TENANT_DATA["teams"][2]["id"]
        self.add({"match": re.escape(tid), "status": 403, "code": "Forbidden",
                  "message": "Missing role permissions on the request. API requires one of "
                             "'ChannelMessage.Read.All'.", "count": -1})
        r = EMU.get(scope_url("teams", tid), self.tok)
        self.assertEqual(r.status, 403)
        self.assertIn("ChannelMessage.Read.All", r.json()["error"]["message"])
        other = TENANT_DATA["teams"][0]["id"]
        self.assertEqual(EMU.get(scope_url("teams", other), self.tok).status, 200)

    def test_fault_matches_next_link(self):
        first = EMU.get(scope_url("users", self.uid, "?$top=10"), self.tok).json()
        self.add({"match": "skiptoken", "status": 500, "count": 1})
        self.assertEqual(EMU.get(first["@odata.nextLink"], self.tok).status, 500)
        self.assertEqual(EMU.get(first["@odata.nextLink"], self.tok).status, 200)

    def test_bad_fault_specs(self):
        for spec in ({"match": "(", "status": 500}, {"match": "x", "status": 200},
                     {"match": "x", "status": 500, "count": 0}, [1, 2]):
            r = http("POST", EMU.base + "/_emulator/faults", spec)
            self.assertEqual(r.status, 400, spec)


class ControlTests(unittest.TestCase):
    def test_request_log(self):
        tok = EMU.token()
        http("POST", EMU.base + "/_emulator/requests/clear", b"")
        EMU.get("/v1.0/users?$top=2", tok)
        EMU.get("/v1.0/teams", None, prefer=False)
        log = http("GET", EMU.base + "/_emulator/requests").json()
        self.assertEqual([(e["method"], e["path"], e["status"], e["authorization"], e["prefer"])
                          for e in log],
                         [("GET", "/v1.0/users?$top=2", 200, True, PREFER),
                          ("GET", "/v1.0/teams", 401, False, None)])
        self.assertIsInstance(log[0]["time"], float)
        http("POST", EMU.base + "/_emulator/requests/clear", b"")
        self.assertEqual(http("GET", EMU.base + "/_emulator/requests").json(), [])

    def test_tenant_shape(self):
        self.assertEqual(TENANT_DATA["tenantId"], TENANT)
        self.assertEqual(set(TENANT_DATA), {"tenantId", "users", "teams", "chatMessages",
                                            "channelMessages"})
        self.assertEqual(set(TENANT_DATA["chatMessages"]),
                         {u["id"] for u in TENANT_DATA["users"]})
        self.assertEqual(set(TENANT_DATA["channelMessages"]),
                         {t["id"] for t in TENANT_DATA["teams"]})

    def test_unknown_control_route(self):
        self.assertEqual(http("GET", EMU.base + "/_emulator/nope").status, 404)


class GeneratedTenantTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = TENANT_DATA["users"]
        cls.chat = TENANT_DATA["chatMessages"]
        cls.channel = TENANT_DATA["channelMessages"]
        cls.all = [m for s in cls.chat.values() for m in s] + \
                  [m for s in cls.channel.values() for m in s]

    def test_users_and_teams(self):
        self.assertGreaterEqual(len(self.users), 6)
        for u in self.users:
            self.assertRegex(u["id"], GUID_RE)
        self.assertEqual(len(TENANT_DATA["teams"]), 3)
        for tid, stream in self.channel.items():
            channels = {m["channelIdentity"]["channelId"] for m in stream
                        if m.get("channelIdentity")}
            self.assertIn(len(channels), (2, 3))
            for c in channels:
                self.assertRegex(c, CHANNEL_RE)
            self.assertTrue(all(m["channelIdentity"]["teamId"] == tid
                                for m in stream if m.get("channelIdentity")))
            replies = [m for m in stream if m["replyToId"]]
            ids = {m["id"] for m in stream}
            self.assertTrue(replies)
            self.assertTrue(all(r["replyToId"] in ids for r in replies))

    def test_message_shape(self):
        for m in self.all:
            self.assertEqual(m["@odata.type"], "#microsoft.graph.chatMessage")
            for k in MESSAGE_KEYS:
                self.assertIn(k, m)
            for k in ("createdDateTime", "lastModifiedDateTime", "lastEditedDateTime",
                      "deletedDateTime"):
                if m[k] is not None:
                    self.assertRegex(m[k], TS_RE)
            self.assertGreaterEqual(msg_time(m), parse_ts(m["createdDateTime"]))
            self.assertIsInstance(m["attachments"], list)

    def test_fraction_digits_vary(self):
        digits = set()
        for m in self.all:
            frac = m["createdDateTime"][19:-1]
            digits.add(len(frac) - 1 if frac else 0)
        self.assertEqual(digits, set(range(8)))

    def test_chat_kinds(self):
        ids = {m["chatId"] for s in self.chat.values() for m in s if m["chatId"]}
        self.assertTrue(any(ONE_ON_ONE_RE.match(i) for i in ids))
        self.assertTrue(any(GROUP_RE.match(i) for i in ids))
        self.assertTrue(any(MEETING_RE.match(i) for i in ids))
        self.assertIn("48:notes", ids)
        for i in ids:
            self.assertTrue(ONE_ON_ONE_RE.match(i) or GROUP_RE.match(i) or MEETING_RE.match(i)
                            or i == "48:notes", i)

    def test_notes_overlap(self):
        notes = {}
        for uid, stream in self.chat.items():
            notes[uid] = {m["id"]: m for m in stream if m["chatId"] == "48:notes"}
        with_notes = [u for u in notes if notes[u]]
        self.assertGreaterEqual(len(with_notes), 5)
        a, b = with_notes[0], with_notes[1]
        shared = set(notes[a]) & set(notes[b])
        self.assertTrue(shared)
        self.assertTrue(any(notes[a][i] != notes[b][i] for i in shared))

    def test_group_chat_under_each_member(self):
        owners = collections.defaultdict(set)
        for uid, stream in self.chat.items():
            for m in stream:
                if m["chatId"] and GROUP_RE.match(m["chatId"]):
                    owners[m["chatId"]].add(uid)
        self.assertTrue(all(len(o) >= 3 for o in owners.values()))

    def test_phrase_in_first_users_group_chat(self):
        first = self.users[0]["id"]
        hits = [m for m in self.chat[first]
                if "quarterly compliance review" in m["body"]["content"]]
        self.assertTrue(hits)
        self.assertTrue(all(GROUP_RE.match(m["chatId"]) for m in hits))

    def test_features(self):
        msgs = self.all
        edited = [m for m in msgs if m["lastEditedDateTime"]]
        self.assertTrue(edited)
        for m in edited:
            self.assertGreater(msg_time(m), parse_ts(m["createdDateTime"]))
        deleted = [m for m in msgs if m["deletedDateTime"]]
        self.assertTrue(deleted)
        self.assertTrue(all(m["body"]["content"] == "" for m in deleted))
        system = [m for m in msgs if m["messageType"] == "systemEventMessage"]
        self.assertTrue(system)
        for m in system:
            self.assertIsNone(m["from"])
            self.assertEqual(m["body"]["content"], "<systemEventMessage/>")
            self.assertTrue(m["eventDetail"]["@odata.type"].startswith("#microsoft.graph."))
        self.assertTrue(any(m["from"] and m["from"].get("application") for m in msgs))
        self.assertTrue(any(m["reactions"] and m["messageHistory"] for m in msgs))
        self.assertTrue(any(m["mentions"] for m in msgs))
        self.assertTrue(any(m["policyViolation"] for m in msgs))
        self.assertTrue(any(m["attachments"] for m in msgs))
        text = "".join(m["body"]["content"] for m in msgs)
        for name, rx in (("cyrillic", "[\u0400-\u04ff]"), ("greek", "[\u0370-\u03ff]"),
                         ("arabic", "[\u0600-\u06ff]"), ("cjk", "[\u4e00-\u9fff]"),
                         ("hebrew", "[\u0590-\u05ff]"), ("emoji", "[\U0001F300-\U0001FAFF]")):
            self.assertRegex(text, rx, name)
        self.assertTrue(any(m["body"]["contentType"] == "html" for m in msgs))
        self.assertTrue(any(m["body"]["contentType"] == "text" for m in msgs))

    def test_odd_ids(self):
        ids = {m["id"] for m in self.all}
        self.assertTrue(any("/" in i for i in ids))
        self.assertTrue(any("%" in i for i in ids))
        self.assertTrue(any(len(i) == 300 for i in ids))
        plain = [i for i in ids if "/" not in i and "%" not in i and len(i) < 300]
        for i in plain:
            self.assertRegex(i, r"^17\d{11}$")


class SamplesTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator("--samples", SAMPLES, "--scale", "0.05")
        cls.data = cls.emu.tenant()
        cls.tok = cls.emu.token()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def expected(self):
        chat, channel = [], []
        for name in sorted(os.listdir(SAMPLES)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(SAMPLES, name), encoding="utf-8") as f:
                d = json.load(f)
            if isinstance(d, dict) and isinstance(d.get("value"), list):
                items = d["value"]
            else:
                items = [{k: v for k, v in d.items() if k != "@odata.context"}]
            for m in items:
                if not (isinstance(m, dict) and "messageType" in m and "body" in m):
                    continue
                (chat if m.get("chatId") or not m.get("channelIdentity") else channel).append(m)
        return chat, channel

    def subsequence(self, needles, haystack):
        it = iter(haystack)
        return all(any(n == h for h in it) for n in needles)

    def test_samples_in_first_scopes(self):
        chat, channel = self.expected()
        self.assertGreater(len(chat), 10)
        self.assertGreater(len(channel), 10)
        uid = self.data["users"][0]["id"]
        tid = self.data["teams"][0]["id"]
        self.assertTrue(self.subsequence(chat, self.data["chatMessages"][uid]))
        self.assertTrue(self.subsequence(channel, self.data["channelMessages"][tid]))

    def test_odd_samples_served_as_given(self):
        uid = self.data["users"][0]["id"]
        pages = self.emu.crawl(self.emu.base + scope_url("users", uid, "?$top=50"), self.tok)
        got = [m for p in pages for m in p["value"]]
        self.assertEqual(got, self.data["chatMessages"][uid])
        self.assertTrue(any("id" not in m for m in got))
        self.assertTrue(any(m.get("createdDateTime") == "2021-03-1706:47:05.123Z" for m in got))

    def test_filter_reads_malformed_dates_leniently(self):
        uid = self.data["users"][0]["id"]
        q = "?$filter=" + urllib.parse.quote("lastModifiedDateTime ge 2021-03-17T06:47:05.123Z "
                                             "and lastModifiedDateTime le 2021-03-17T06:47:05.123Z")
        pages = self.emu.crawl(self.emu.base + scope_url("users", uid, q), self.tok)
        got = [m for p in pages for m in p["value"]]
        self.assertTrue(got)
        self.assertTrue(all(m["lastModifiedDateTime"] == "2021-03-1706:47:05.123Z" for m in got))


class DumpTests(unittest.TestCase):
    def dump(self, directory, *args):
        subprocess.run([sys.executable, EMULATOR, "--dump", directory] + list(args),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def read_tree(self, directory):
        out = {}
        for base, _, files in os.walk(directory):
            for f in files:
                p = os.path.join(base, f)
                with open(p, "rb") as fh:
                    out[os.path.relpath(p, directory)] = fh.read()
        return out

    def test_roundtrip_and_determinism(self):
        tmp = tempfile.mkdtemp(prefix="emu-dump-")
        self.addCleanup(shutil.rmtree, tmp, True)
        a, b, c = (os.path.join(tmp, x) for x in "abc")
        self.dump(a, "--seed", "7", "--scale", "0.1")
        self.dump(b, "--seed", "7", "--scale", "0.1")
        self.dump(c, "--seed", "8", "--scale", "0.1")
        tree_a = self.read_tree(a)
        self.assertEqual(tree_a, self.read_tree(b))
        self.assertNotEqual(tree_a, self.read_tree(c))
        users = json.loads(tree_a["users.json"])
        teams = json.loads(tree_a["teams.json"])
        for u in users:
            self.assertIn(os.path.join("chats", u["id"] + ".json"), tree_a)
        for t in teams:
            self.assertIn(os.path.join("channels", t["id"] + ".json"), tree_a)

        emu = Emulator("--tenant-dir", a)
        try:
            data = emu.tenant()
            self.assertEqual(data["users"], users)
            self.assertEqual(data["teams"], teams)
            for u in users:
                with open(os.path.join(a, "chats", u["id"] + ".json"), encoding="utf-8") as f:
                    self.assertEqual(data["chatMessages"][u["id"]], json.load(f))
            tok = emu.token()
            uid = users[0]["id"]
            pages = emu.crawl(emu.base + scope_url("users", uid, "?$top=7"), tok)
            self.assertEqual([m for p in pages for m in p["value"]], data["chatMessages"][uid])
        finally:
            emu.stop()


class RobustnessTests(unittest.TestCase):
    """A handler that raises must give a 500 in Graph's shape and leave the
    server running. Runs the emulator in-process to plant the failure."""

    def test_handler_exception_gives_500(self):
        sys.path.insert(0, EMU_DIR)
        self.addCleanup(sys.path.remove, EMU_DIR)
        from emulator import auth, generate, server

        tenant = generate.generate(seed=3, scale=0.05)
        state = server.State(tenant, auth.Authority(tenant.tenant_id, CLIENT, SECRET, 60))
        srv = server.EmulatorServer(("127.0.0.1", 0), state)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        original = server.Handler.all_messages

        def boom(self, *args):
            raise RuntimeError("planted failure")

        server.Handler.all_messages = boom
        saved_stderr = sys.stderr
        try:
            base = "http://127.0.0.1:%d" % srv.server_address[1]
            form = urllib.parse.urlencode({"client_id": CLIENT, "client_secret": SECRET,
                                           "grant_type": "client_credentials", "scope": SCOPE})
            tok = http("POST", base + "/%s/oauth2/v2.0/token" % TENANT, form).json()["access_token"]
            uid = tenant.users[0]["id"]
            sys.stderr = open(os.devnull, "w")
            r = http("GET", base + scope_url("users", uid),
                     headers={"Authorization": "Bearer " + tok})
            self.assertEqual(r.status, 500)
            self.assertEqual(r.json()["error"]["code"], "InternalServerError")
            r = http("GET", base + "/v1.0/users", headers={"Authorization": "Bearer " + tok})
            self.assertEqual(r.status, 200)
        finally:
            if sys.stderr is not saved_stderr:
                sys.stderr.close()
                sys.stderr = saved_stderr
            server.Handler.all_messages = original
            srv.shutdown()
            srv.server_close()
            thread.join(5)


if __name__ == "__main__":
    unittest.main()
