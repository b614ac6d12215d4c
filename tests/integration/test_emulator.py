"""Tests of the Graph emulator itself (contrib/graph-emulator).

Run from the repository root:
    python3 -m unittest discover -s tests/integration -p 'test_emulator.py' -v

Every emulator is started on 127.0.0.1 with --port 0 and --port-file and is
stopped again; all traffic stays on loopback (proxies are bypassed).
"""

import base64
import collections
import datetime
import email.utils
import hashlib
import http.client as httpclient
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
import zlib

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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECT_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


# -- helpers -------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw

    def json(self):
        return json.loads(self.raw.decode("utf-8"))


def http(method, url, body=None, headers=None, timeout=30, follow=True):
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode("utf-8")
    elif isinstance(body, str):
        data = body.encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = _OPENER if follow else _NO_REDIRECT_OPENER
    try:
        with opener.open(req, timeout=timeout) as f:
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
        download_port_file = os.path.join(self.tmp, "download-port")
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--host", "127.0.0.1", "--port", "0",
             "--port-file", port_file, "--download-port-file", download_port_file]
            + list(args),
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
        with open(download_port_file) as f:
            self.download_port = int(f.read().strip())
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


def in_process_tenant(**kw):
    """The generated tenant, built in this process (emulator package imported)."""
    if EMU_DIR not in sys.path:
        sys.path.insert(0, EMU_DIR)
    from emulator import generate
    return generate.generate(**kw)


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
                                            "channelMessages", "files", "hostedContents",
                                            "chats", "channels"})
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
            # Files and hosted contents survive the round trip (media.json).
            self.assertIn("media.json", tree_a)
            generated = json.loads(in_process_tenant(seed=7, scale=0.1).snapshot_bytes())
            self.assertEqual(data["files"], generated["files"])
            self.assertEqual(data["hostedContents"], generated["hostedContents"])
            self.assertTrue(data["files"] and data["hostedContents"])
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


# -- round 2: attachments ------------------------------------------------------------

HOSTED_URL_RE = re.compile(r"https://graph\.microsoft\.com(/v1\.0/[^\"'\s<>]*?/hostedContents/"
                           r"[^/\"'\s<>]+/\$value)")
INLINE_TYPES = ("application/vnd.microsoft.card.adaptive",
                "application/vnd.microsoft.card.thumbnail", "messageReference",
                "forwardedMessageReference", "meetingReference", "tabReference")


def shares_id(url):
    return "u!" + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def all_messages(data):
    for streams in (data["chatMessages"], data["channelMessages"]):
        for stream in streams.values():
            yield from stream


def check_png(test, data):
    """A well-formed PNG: signature, chunk CRCs, IHDR, IDAT inflating to the
    right number of bytes, IEND last. Independent of the emulator's code."""
    test.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
        test.assertEqual(zlib.crc32(kind + body) & 0xFFFFFFFF, crc, kind)
        chunks.append(kind)
        if kind == b"IDAT":
            idat += body
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            depth, colour = body[8], body[9]
        pos += 12 + length
    test.assertEqual(chunks[0], b"IHDR")
    test.assertEqual(chunks[-1], b"IEND")
    test.assertEqual((depth, colour), (8, 2))
    test.assertEqual(len(zlib.decompress(idat)), height * (1 + 3 * width))


def raw_get(port, path, headers=None):
    """GET over http.client -> (response, body or the exception it raised)."""
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        try:
            return resp, resp.read()
        except httpclient.IncompleteRead as exc:
            return resp, exc
    finally:
        conn.close()


class AttachmentDataTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.messages = list(all_messages(TENANT_DATA))
        cls.atts = [(m, a) for m in cls.messages for a in m["attachments"]]

    def test_every_kind(self):
        kinds = {a["contentType"] for _, a in self.atts}
        for kind in ("reference", "application/vnd.microsoft.card.codesnippet") + INLINE_TYPES:
            self.assertIn(kind, kinds)
        for m, a in self.atts:
            self.assertEqual(set(a), {"id", "contentType", "contentUrl", "content", "name",
                                      "thumbnailUrl", "teamsAppId"})
            if a["contentType"] in INLINE_TYPES:
                self.assertIsNone(a["contentUrl"])
                self.assertIsInstance(json.loads(a["content"]), dict)
            if a["contentType"] == "messageReference":
                self.assertLessEqual({"messageId", "messagePreview", "messageSender"},
                                     set(json.loads(a["content"])))
            self.assertIn('<attachment id="%s">' % a["id"], m["body"]["content"])
        channel_kinds = {a["contentType"] for s in TENANT_DATA["channelMessages"].values()
                         for m in s for a in m["attachments"]}
        self.assertIn("tabReference", channel_kinds)
        self.assertIn("reference", channel_kinds)

    def test_reference_files(self):
        files = TENANT_DATA["files"]
        refs = [a for _, a in self.atts if a["contentType"] == "reference"]
        self.assertEqual({a["contentUrl"] for a in refs}, set(files))
        for url, f in files.items():
            self.assertEqual(set(f), {"name", "size", "sha256", "lastModifiedDateTime", "status"})
            self.assertIn(f["status"], (200, 403, 404))
            if f["status"] == 200:
                self.assertRegex(f["sha256"], r"^[0-9a-f]{64}$")
                self.assertRegex(f["lastModifiedDateTime"], TS_RE)
        statuses = collections.Counter(f["status"] for f in files.values())
        self.assertEqual((statuses[403], statuses[404]), (1, 1))
        sizes = [f["size"] for f in files.values() if f["status"] == 200]
        self.assertTrue(any(4 * 2**20 < s < 6 * 2**20 for s in sizes))
        self.assertTrue(all(s < 2**20 for s in sizes if not 4 * 2**20 < s < 6 * 2**20))
        names = [f["name"] for f in files.values()]
        self.assertTrue(any("%" in n for n in names))
        self.assertTrue(any(re.search("[\u0400-\u04ff\u3040-\u9fff]", n) for n in names))
        self.assertTrue(all(urllib.parse.urlsplit(u).hostname.endswith(".sharepoint.com")
                            for u in files))
        same = [m for m in self.messages
                if len([a for a in m["attachments"] if a["contentType"] == "reference"]) >= 2]
        self.assertTrue(any(len({a["name"] for a in m["attachments"]}) == 1
                            and len({a["contentUrl"] for a in m["attachments"]}) == 2
                            for m in same))

    def test_hosted_contents_map(self):
        hosted = TENANT_DATA["hostedContents"]
        in_bodies, snippets = set(), set()
        for m in self.messages:
            in_bodies.update(HOSTED_URL_RE.findall(m["body"]["content"]))
            for a in m["attachments"]:
                if a["contentType"] == "application/vnd.microsoft.card.codesnippet":
                    url = json.loads(a["content"])["codeSnippetUrl"]
                    snippets.add(url[len("https://graph.microsoft.com"):])
                    self.assertIn('<a href="%s"' % url, m["body"]["content"])
        self.assertEqual(in_bodies, set(hosted))
        self.assertTrue(snippets)
        self.assertEqual({p for p in hosted if hosted[p]["contentType"] == "text/plain"},
                         snippets)
        forms = collections.Counter()
        for path, h in hosted.items():
            self.assertTrue(path.startswith("/v1.0/"))
            self.assertIn(h["contentType"], ("image/png", "text/plain"))
            forms[(path.split("/")[2], "/replies/" in path, h["contentType"])] += 1
        for form in (("chats", False, "image/png"), ("teams", False, "image/png"),
                     ("teams", True, "image/png"), ("chats", False, "text/plain")):
            self.assertIn(form, forms)

    def test_determinism_by_seed(self):
        a = json.loads(in_process_tenant(seed=5, scale=0.05).snapshot_bytes())
        b = json.loads(in_process_tenant(seed=5, scale=0.05).snapshot_bytes())
        c = json.loads(in_process_tenant(seed=6, scale=0.05).snapshot_bytes())
        self.assertEqual(a, b)
        self.assertNotEqual(a["files"], c["files"])


class SharesTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()
        cls.auth = {"Authorization": "Bearer " + cls.tok}
        files = TENANT_DATA["files"]
        cls.ok = [u for u, f in files.items() if f["status"] == 200]
        cls.small = min(cls.ok, key=lambda u: files[u]["size"])
        cls.big = max(cls.ok, key=lambda u: files[u]["size"])
        cls.missing = [u for u, f in files.items() if f["status"] == 404][0]
        cls.forbidden = [u for u, f in files.items() if f["status"] == 403][0]

    def setUp(self):
        http("POST", EMU.base + "/_emulator/downloads/clear", b"")

    def location(self, url):
        r = http("GET", EMU.base + "/v1.0/shares/%s/driveItem/content" % shares_id(url),
                 headers=self.auth, follow=False)
        self.assertEqual(r.status, 302, r.raw)
        return r.headers["Location"]

    def test_drive_item(self):
        for url in self.ok:
            r = EMU.get("/v1.0/shares/%s/driveItem" % shares_id(url), self.tok)
            self.assertEqual(r.status, 200, r.raw)
            item = r.json()
            f = TENANT_DATA["files"][url]
            for key in ("id", "name", "eTag", "size", "lastModifiedDateTime",
                        "createdDateTime", "file", "webUrl"):
                self.assertIn(key, item)
            self.assertEqual((item["name"], item["size"], item["webUrl"],
                              item["lastModifiedDateTime"]),
                             (f["name"], f["size"], url, f["lastModifiedDateTime"]))
            self.assertIn("mimeType", item["file"])
        r = EMU.get("/v1.0/shares/%s/driveItem?$select=name,size" % shares_id(self.small),
                    self.tok)
        self.assertEqual({k for k in r.json() if not k.startswith("@")}, {"name", "size"})
        self.assertEqual(EMU.get("/v1.0/shares/%s/driveItem" % shares_id(self.small)).status,
                         401)

    def test_redirect_to_other_origin_without_auth(self):
        loc = self.location(self.small)
        split = urllib.parse.urlsplit(loc)
        self.assertEqual((split.scheme, split.hostname, split.port),
                         ("http", "127.0.0.1", EMU.download_port))
        self.assertNotEqual(split.port, EMU.port)
        health = http("GET", EMU.base + "/_emulator/health").json()
        self.assertTrue(loc.startswith(health["download_url"] + "/"))
        r = http("GET", loc)
        self.assertEqual(r.status, 200)
        self.assertEqual(hashlib.sha256(r.raw).hexdigest(),
                         TENANT_DATA["files"][self.small]["sha256"])
        self.assertEqual(http("GET", loc, headers=self.auth).status, 200)
        log = http("GET", EMU.base + "/_emulator/downloads").json()
        self.assertEqual([(e["authorization"], e["range"], e["status"]) for e in log],
                         [(False, None, 200), (True, None, 200)])
        self.assertEqual(log[0]["path"], loc[len(health["download_url"]):])
        # The download origin never shows up in the Graph request log.
        self.assertFalse(any("download.aspx" in e["path"]
                             for e in http("GET", EMU.base + "/_emulator/requests").json()))

    def test_ranges_and_head(self):
        size = TENANT_DATA["files"][self.big]["size"]
        loc = self.location(self.big)
        whole = http("GET", loc).raw
        self.assertEqual(len(whole), size)
        self.assertEqual(hashlib.sha256(whole).hexdigest(),
                         TENANT_DATA["files"][self.big]["sha256"])
        for spec, start, end in (("bytes=0-99", 0, 100), ("bytes=70000-200000", 70000, 200001),
                                 ("bytes=%d-" % (size - 10), size - 10, size),
                                 ("bytes=-300", size - 300, size),
                                 ("bytes=%d-%d" % (size - 5, size + 99), size - 5, size)):
            r = http("GET", loc, headers={"Range": spec})
            self.assertEqual(r.status, 206, spec)
            self.assertEqual(r.headers["Content-Range"], "bytes %d-%d/%d" % (start, end - 1, size))
            self.assertEqual(r.raw, whole[start:end], spec)
        r = http("GET", loc, headers={"Range": "bytes=%d-" % size})
        self.assertEqual((r.status, r.headers["Content-Range"]), (416, "bytes */%d" % size))
        r = http("HEAD", loc)
        self.assertEqual((r.status, r.raw, r.headers["Content-Length"], r.headers["Accept-Ranges"]),
                         (200, b"", str(size), "bytes"))
        log = http("GET", EMU.base + "/_emulator/downloads").json()
        self.assertEqual([e["range"] for e in log][1:3], ["bytes=0-99", "bytes=70000-200000"])
        self.assertEqual([e["status"] for e in log][-2:], [416, 200])

    def test_missing_and_forbidden(self):
        for url, status, code in ((self.missing, 404, "itemNotFound"),
                                  (self.forbidden, 403, "accessDenied")):
            for suffix in ("", "/content"):
                r = http("GET", EMU.base + "/v1.0/shares/%s/driveItem%s" % (shares_id(url), suffix),
                         headers=self.auth, follow=False)
                self.assertEqual(r.status, status)
                err = r.json()["error"]
                self.assertEqual(err["code"], code)
                self.assertIn("request-id", err["innerError"])
        unknown = shares_id("https://contoso.sharepoint.com/sites/x/nothing.docx")
        self.assertEqual(EMU.get("/v1.0/shares/%s/driveItem" % unknown, self.tok).status, 404)
        self.assertEqual(EMU.get("/v1.0/shares/not-a-share/driveItem", self.tok).status, 400)

    def test_download_url_is_signed_and_expires(self):
        loc = self.location(self.small)
        forged = re.sub(r"tempauth=[^&]*", "tempauth=forged", loc)
        self.assertEqual(http("GET", forged).status, 401)
        other = self.location(self.ok[0] if self.ok[0] != self.small else self.ok[1])
        swapped = re.sub(r"UniqueId=[^&]*", re.search(r"UniqueId=[^&]*", other).group(0), loc)
        self.assertEqual(http("GET", swapped).status, 401)
        try:
            http("POST", EMU.base + "/_emulator/config", {"download_url_ttl": 0.3})
            short = self.location(self.small)
            self.assertEqual(http("HEAD", short).status, 200)
            time.sleep(0.5)
            self.assertEqual(http("GET", short).status, 401)
        finally:
            http("POST", EMU.base + "/_emulator/config", {"download_url_ttl": 600})

    def test_faults_on_download_origin(self):
        loc = self.location(self.big)
        path = loc[loc.index("/_layouts"):]
        http("POST", EMU.base + "/_emulator/faults",
             {"match": "download\\.aspx", "truncate": 1000})
        try:
            resp, body = raw_get(EMU.download_port, path)
            self.assertEqual(resp.status, 200)
            self.assertEqual(int(resp.getheader("Content-Length")),
                             TENANT_DATA["files"][self.big]["size"])
            self.assertIsInstance(body, httpclient.IncompleteRead)
            self.assertEqual(len(body.partial), 1000)
        finally:
            http("DELETE", EMU.base + "/_emulator/faults")


class LargeFileTests(unittest.TestCase):
    def test_200_mib_streamed(self):
        emu = Emulator("--scale", "0.05", "--large-files")
        try:
            data = emu.tenant()
            url = [u for u, f in data["files"].items() if f["size"] and f["size"] >= 200 * 2**20]
            self.assertEqual(len(url), 1)
            f = data["files"][url[0]]
            tok = emu.token()
            loc = http("GET", emu.base + "/v1.0/shares/%s/driveItem/content" % shares_id(url[0]),
                       headers={"Authorization": "Bearer " + tok}, follow=False).headers["Location"]
            split = urllib.parse.urlsplit(loc)
            conn = httpclient.HTTPConnection("127.0.0.1", split.port, timeout=60)
            conn.request("GET", loc[len("http://%s" % split.netloc):])
            resp = conn.getresponse()
            h, n = hashlib.sha256(), 0
            while True:
                piece = resp.read(1 << 20)
                if not piece:
                    break
                h.update(piece)
                n += len(piece)
            conn.close()
            self.assertEqual((n, h.hexdigest()), (f["size"], f["sha256"]))
            tail = http("GET", loc, headers={"Range": "bytes=-1000"})
            self.assertEqual(tail.status, 206)
            with open("/proc/%d/status" % emu.proc.pid) as st:
                peak_kib = int(re.search(r"VmHWM:\s+(\d+)", st.read()).group(1))
            self.assertLess(peak_kib, 150 * 1024, "the emulator held the file in memory")
        finally:
            emu.stop()


class HostedContentTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()

    def test_value_entity_and_list(self):
        for path, h in TENANT_DATA["hostedContents"].items():
            r = EMU.get(path, self.tok)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.headers["Content-Type"], h["contentType"])
            self.assertEqual((len(r.raw), hashlib.sha256(r.raw).hexdigest()),
                             (h["size"], h["sha256"]))
            if h["contentType"] == "image/png":
                check_png(self, r.raw)
            entity_path = path[:-len("/$value")]
            ident = entity_path.rsplit("/", 1)[1]
            entity = EMU.get(entity_path, self.tok).json()
            self.assertEqual({k: entity[k] for k in ("id", "contentBytes", "contentType")},
                             {"id": ident, "contentBytes": None, "contentType": h["contentType"]})
            listing = EMU.get(entity_path.rsplit("/", 1)[0], self.tok).json()
            self.assertIn(ident, [x["id"] for x in listing["value"]])
            self.assertEqual(listing["@odata.count"], len(listing["value"]))
            self.assertEqual(EMU.get(path).status, 401)

    def test_keyed_form_and_not_found(self):
        path = [p for p in TENANT_DATA["hostedContents"] if p.startswith("/v1.0/chats/")][0]
        chat, msg, hc = re.match(r"^/v1\.0/chats/(.+)/messages/(.+)/hostedContents/(.+)/\$value$",
                                 path).groups()
        keyed = "/v1.0/chats('%s')/messages('%s')/hostedContents('%s')/$value" % (
            urllib.parse.quote(chat), msg, hc)
        self.assertEqual(EMU.get(keyed, self.tok).raw, EMU.get(path, self.tok).raw)
        base = "/v1.0/chats/%s/messages/%s/hostedContents" % (chat, msg)
        self.assertEqual(EMU.get(base + "/nope/$value", self.tok).status, 404)
        self.assertEqual(EMU.get("/v1.0/chats/%s/messages/1/hostedContents" % chat,
                                 self.tok).status, 404)
        plain = [m for m in TENANT_DATA["chatMessages"][TENANT_DATA["users"][0]["id"]]
                 if m["chatId"] == chat and m["id"].isdigit()
                 and "/hostedContents/" not in m["body"]["content"]][0]
        r = EMU.get("/v1.0/chats/%s/messages/%s/hostedContents" % (chat, plain["id"]), self.tok)
        self.assertEqual((r.status, r.json()["value"]), (200, []))


# -- round 2: faults, config, live changes ------------------------------------------------

class MoreFaultTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()
        cls.uid = TENANT_DATA["users"][0]["id"]
        cls.path = scope_url("users", cls.uid, "?$top=5")
        cls.auth = {"Authorization": "Bearer " + cls.tok}

    def tearDown(self):
        http("DELETE", EMU.base + "/_emulator/faults")

    def add(self, spec):
        r = http("POST", EMU.base + "/_emulator/faults", spec)
        self.assertEqual(r.status, 201, r.raw)
        return r.json()

    def last_status(self):
        return http("GET", EMU.base + "/_emulator/requests").json()[-1]["status"]

    def test_truncate(self):
        whole = EMU.get(self.path, self.tok, prefer=False).raw
        self.add({"match": "(?i)getallmessages", "truncate": 50})
        resp, body = raw_get(EMU.port, self.path, self.auth)
        self.assertEqual((resp.status, int(resp.getheader("Content-Length"))), (200, len(whole)))
        self.assertIsInstance(body, httpclient.IncompleteRead)
        self.assertEqual(body.partial, whole[:50])
        self.assertEqual(EMU.get(self.path, self.tok, prefer=False).raw, whole)

    def test_malformed(self):
        self.add({"match": "(?i)getallmessages", "malformed": True, "count": 2})
        for _ in range(2):
            r = EMU.get(self.path, self.tok)
            self.assertEqual(r.status, 200)
            self.assertEqual(int(r.headers["Content-Length"]), len(r.raw))
            with self.assertRaises(ValueError):
                json.loads(r.raw.decode("utf-8"))
        self.assertEqual(EMU.get(self.path, self.tok).status, 200)

    def test_reset_and_drop(self):
        self.add({"match": "(?i)getallmessages", "reset": True})
        with self.assertRaises(ConnectionResetError):
            raw_get(EMU.port, self.path, self.auth)
        self.assertEqual(self.last_status(), 0)
        self.add({"match": "(?i)getallmessages", "drop": True})
        with self.assertRaises(httpclient.RemoteDisconnected):
            raw_get(EMU.port, self.path, self.auth)
        self.assertEqual(EMU.get(self.path, self.tok).status, 200)

    def test_retry_after_date(self):
        self.add({"match": "(?i)getallmessages", "status": 429, "retry_after": 30,
                  "retry_after_date": True})
        before = time.time()
        r = EMU.get(self.path, self.tok)
        self.assertEqual(r.status, 429)
        when = email.utils.parsedate_to_datetime(r.headers["Retry-After"]).timestamp()
        self.assertTrue(before + 29 <= when <= time.time() + 32, r.headers["Retry-After"])
        self.assertTrue(r.headers["Retry-After"].endswith(" GMT"))

    def test_bad_combinations(self):
        for spec in ({"match": "x", "truncate": 5, "drop": True},
                     {"match": "x", "reset": True, "malformed": True},
                     {"match": "x", "truncate": -1}, {"match": "x", "reset": "yes"}):
            self.assertEqual(http("POST", EMU.base + "/_emulator/faults", spec).status, 400, spec)


class SmallEmulatorTest(unittest.TestCase):
    """Tests that change the emulator get one of their own."""
    args = ("--scale", "0.05")

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(*cls.args)
        cls.tok = cls.emu.token()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def config(self, body=None):
        if body is None:
            return http("GET", self.emu.base + "/_emulator/config")
        return http("POST", self.emu.base + "/_emulator/config", body)


class ConfigTests(SmallEmulatorTest):
    args = ("--scale", "0.05", "--latency-ms", "50", "--skiptoken-ttl", "120")

    def test_flags_and_updates(self):
        cfg = self.config().json()
        self.assertEqual(cfg, {"latency_ms": 50, "token_lifetime": 3600, "skiptoken_ttl": 120,
                               "repeat_skiptoken": 0, "download_url_ttl": 600})
        for bad in ({"latency_ms": -1}, {"token_lifetime": 0}, {"nope": 1},
                    {"repeat_skiptoken": 1.5}, [1]):
            self.assertEqual(self.config(bad).status, 400, bad)
        self.assertEqual(self.config().json(), cfg)

    def test_latency(self):
        self.config({"latency_ms": 300})
        try:
            start = time.time()
            self.assertEqual(self.emu.get("/v1.0/teams", self.tok).status, 200)
            self.assertGreaterEqual(time.time() - start, 0.3)
            start = time.time()
            self.emu.tenant()
            self.assertLess(time.time() - start, 0.3)
        finally:
            self.config({"latency_ms": 0})

    def test_token_lifetime_and_skiptoken_ttl(self):
        uid = self.emu.tenant()["users"][0]["id"]
        self.config({"token_lifetime": 1, "skiptoken_ttl": 1})
        try:
            r = self.emu.token_response()
            self.assertEqual(r.json()["expires_in"], 1)
            short = r.json()["access_token"]
            link = self.emu.get(scope_url("users", uid, "?$top=5"), self.tok).json()[
                "@odata.nextLink"]
            self.assertEqual(self.emu.get(link, short).status, 200)
            time.sleep(1.3)
            self.assertEqual(self.emu.get(link, short).status, 401)
            r = self.emu.get(link, self.tok)
            self.assertEqual(r.status, 400)
            self.assertEqual(r.json()["error"]["code"], "BadRequest")
            self.assertEqual(r.json()["error"]["message"],
                             "The skip token has expired or is invalid.")
            fresh = self.emu.get(scope_url("users", uid, "?$top=5"), self.tok).json()
            self.assertEqual(fresh["@odata.nextLink"], link)    # same link, issued anew
            self.assertEqual(self.emu.get(link, self.tok).status, 200)
        finally:
            self.config({"token_lifetime": 3600, "skiptoken_ttl": None})
        self.assertEqual(self.emu.get(link, self.tok).status, 200)

    def test_repeat_skiptoken(self):
        uid = self.emu.tenant()["users"][0]["id"]
        first = self.emu.base + scope_url("users", uid, "?$top=5")
        self.config({"repeat_skiptoken": 3})
        try:
            urls, url = [], first
            for _ in range(12):
                urls.append(url)
                url = self.emu.get(url, self.tok).json().get("@odata.nextLink")
                self.assertTrue(url, "a naive walk must not end")
            self.assertEqual(len(set(urls[:3])), 3)
            self.assertTrue(all(u == urls[2] for u in urls[2:]))
        finally:
            self.config({"repeat_skiptoken": 0})
        pages = self.emu.crawl(first, self.tok)
        self.assertEqual([m for p in pages for m in p["value"]],
                         self.emu.tenant()["chatMessages"][uid])


class LiveChangeTests(SmallEmulatorTest):
    def setUp(self):
        self.before = self.emu.tenant()
        self.uid = self.before["users"][0]["id"]
        times = [parse_ts(m.get(k)) for m in all_messages(self.before)
                 for k in ("createdDateTime", "lastModifiedDateTime", "lastEditedDateTime",
                           "deletedDateTime")]
        self.newest = max(t for t in times if t is not None)

    def change(self, method, body, status=None):
        r = http(method, self.emu.base + "/_emulator/messages", body)
        if status is not None:
            self.assertEqual(r.status, status, r.raw)
        return r

    def served(self, kind, ident, query="?$top=7"):
        pages = self.emu.crawl(self.emu.base + scope_url(kind, ident, query), self.tok)
        return [m for p in pages for m in p["value"]]

    def since(self, kind, ident, when):
        q = "?$filter=" + urllib.parse.quote("lastModifiedDateTime gt " + when)
        return self.served(kind, ident, q)

    def check_new(self, m):
        self.assertRegex(m["id"], r"^\d{13}$")
        self.assertEqual(m["id"], m["etag"])
        self.assertRegex(m["createdDateTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(m["createdDateTime"], m["lastModifiedDateTime"])
        self.assertGreater(parse_ts(m["createdDateTime"]), self.newest)
        self.assertEqual(int(m["id"]), parse_ts(m["createdDateTime"]) // 10_000)
        for k in MESSAGE_KEYS:
            self.assertIn(k, m)

    def group_chat(self):
        holders = collections.defaultdict(set)
        for uid, stream in self.before["chatMessages"].items():
            for m in stream:
                if m["chatId"] and GROUP_RE.match(m["chatId"]):
                    holders[m["chatId"]].add(uid)
        chat = [c for c, h in holders.items() if self.uid in h][0]
        return chat, holders[chat]

    def test_add_to_chat_and_new_chat(self):
        chat, members = self.group_chat()
        m = self.change("POST", {"chatId": chat, "body": "<p>hello live</p>"}, 201).json()
        self.check_new(m)
        self.assertEqual((m["chatId"], m["body"]), (chat, {"contentType": "html",
                                                           "content": "<p>hello live</p>"}))
        after = self.emu.tenant()
        for uid in members:
            self.assertEqual(after["chatMessages"][uid], self.before["chatMessages"][uid] + [m])
            self.assertEqual(self.since("users", uid, self.before_text()), [m])
        self.assertEqual(self.served("users", self.uid), after["chatMessages"][self.uid])
        other = self.before["users"][-1]["id"]     # the user without chats
        n = self.change("POST", {"members": [self.uid, other], "body": "new chat"}, 201).json()
        self.check_new(n)
        self.assertGreater(parse_ts(n["createdDateTime"]), parse_ts(m["createdDateTime"]))
        self.assertGreater(int(n["id"]), int(m["id"]))
        self.assertEqual(self.served("users", other), [n])
        self.assertEqual(self.served("users", self.uid)[-1], n)
        self.assertEqual(self.change("POST", {"chatId": "19:nope@thread.v2"}).status, 404)
        self.assertEqual(self.change("POST", {"body": "where?"}).status, 400)

    def before_text(self):
        return max((m["lastModifiedDateTime"] for m in all_messages(self.before)
                    if parse_ts(m.get("lastModifiedDateTime")) == self.newest), default=None) \
            or "2099-01-01T00:00:00Z"

    def test_channel_post_and_reply(self):
        tid = self.before["teams"][0]["id"]
        channel = [m for m in self.before["channelMessages"][tid]
                   if m.get("channelIdentity")][0]["channelIdentity"]["channelId"]
        root = self.change("POST", {"teamId": tid, "channelId": channel, "body": "root"},
                           201).json()
        reply = self.change("POST", {"teamId": tid, "channelId": channel,
                                     "replyToId": root["id"], "body": "reply"}, 201).json()
        self.check_new(root)
        self.check_new(reply)
        self.assertEqual(reply["replyToId"], root["id"])
        self.assertEqual(reply["channelIdentity"], {"teamId": tid, "channelId": channel})
        self.assertEqual(self.since("teams", tid, self.before_text()), [root, reply])

    def test_edit_and_delete(self):
        stream = self.before["chatMessages"][self.uid]
        versions = collections.defaultdict(list)
        for i, m in enumerate(stream):
            versions[(container(m), m.get("id"))].append(i)
        # An edited message with a stale copy, and a message with attachments.
        stale_key = [k for k, ix in versions.items()
                     if len({json.dumps(stream[i], sort_keys=True) for i in ix}) > 1][0]
        with_att = [m for m in stream if m["attachments"] and not m["deletedDateTime"]
                    and len(versions[(container(m), m["id"])]) == 1][0]
        edited = self.change("PATCH", {"container": stale_key[0], "id": stale_key[1],
                                       "body": "edited live"}, 200).json()
        self.assertEqual(edited["body"]["content"], "edited live")
        self.assertEqual(edited["lastEditedDateTime"], edited["lastModifiedDateTime"])
        self.assertGreater(parse_ts(edited["lastModifiedDateTime"]), self.newest)
        self.assertNotIn(edited["etag"], {stream[i]["etag"] for i in versions[stale_key]})
        deleted = self.change("DELETE", {"container": container(with_att),
                                         "id": with_att["id"]}, 200).json()
        self.assertEqual((deleted["body"]["content"], deleted["attachments"]), ("", []))
        self.assertEqual(deleted["deletedDateTime"], deleted["lastModifiedDateTime"])
        self.assertGreater(parse_ts(deleted["deletedDateTime"]),
                           parse_ts(edited["lastModifiedDateTime"]))
        after = self.emu.tenant()["chatMessages"][self.uid]
        self.assertEqual(len(after), len(stream) - len(versions[stale_key]) + 1)
        keys = [(container(m), m.get("id")) for m in after]
        self.assertEqual(keys.count(stale_key), 1)
        self.assertEqual(after[keys.index(stale_key)], edited)
        self.assertEqual(after[keys.index((container(with_att), with_att["id"]))], deleted)
        # In serving order, where the current version was.
        newest = max(versions[stale_key], key=lambda i: (msg_time(stream[i]), i))
        kept = [m for i, m in enumerate(stream) if (container(m), m.get("id")) != stale_key
                or i == newest]
        self.assertEqual([(container(m), m.get("id")) for m in kept], keys)
        self.assertEqual(self.served("users", self.uid), after)
        self.assertEqual(self.since("users", self.uid, self.before_text()), [
            m for m in after if m in (edited, deleted)])
        self.assertEqual(self.change("PATCH", {"container": container(with_att),
                                               "id": with_att["id"], "body": "x"}).status, 409)
        self.assertEqual(self.change("DELETE", {"container": "19:none@thread.v2",
                                                "id": "1"}).status, 404)
        self.assertEqual(self.change("PATCH", {"container": stale_key[0]}).status, 400)


# -- chats and channels (the names behind the ids) -----------------------------------------

CHAT_KEYS = ["id", "topic", "createdDateTime", "lastUpdatedDateTime", "chatType", "webUrl",
             "isHiddenForAllMembers", "tenantId", "onlineMeetingInfo", "viewpoint"]
MEMBER_KEYS = ["@odata.type", "id", "roles", "displayName", "visibleHistoryStartDateTime",
               "userId", "email", "tenantId"]
CHANNEL_KEYS = ["@odata.id", "id", "createdDateTime", "displayName", "description",
                "isFavoriteByDefault", "email", "tenantId", "webUrl", "membershipType"]


def chats_url(user, query=""):
    return "/v1.0/users/%s/chats%s" % (urllib.parse.quote(user, safe=""), query)


def without_context(chat):
    return {k: v for k, v in chat.items() if k != "members@odata.context"}


def chat_ids_in(stream):
    return {m["chatId"] for m in stream if isinstance(m.get("chatId"), str)}


def channel_ids_in(stream):
    return {m["channelIdentity"]["channelId"] for m in stream
            if isinstance(m.get("channelIdentity"), dict)}


class DirectoryTests(unittest.TestCase):
    """GET /users/{id}/chats, GET /teams/{id}/allChannels and the tenant map."""

    @classmethod
    def setUpClass(cls):
        cls.tok = EMU.token()
        cls.users = TENANT_DATA["users"]
        cls.chats = TENANT_DATA["chats"]
        cls.channels = TENANT_DATA["channels"]

    def crawl_chats(self, user, query):
        pages = EMU.crawl(EMU.base + chats_url(user, query), self.tok)
        return pages, [c for p in pages for c in p["value"]]

    def test_tenant_map_covers_every_owner(self):
        self.assertEqual(set(self.chats), {u["id"] for u in self.users})
        self.assertEqual(set(self.channels), {t["id"] for t in TENANT_DATA["teams"]})

    def test_paged_with_expand_equals_tenant_map(self):
        for u in self.users:
            pages, got = self.crawl_chats(u["id"], "?$expand=members&$top=2")
            self.assertEqual([without_context(c) for c in got], self.chats[u["id"]], u["id"])
            self.assertEqual(len(pages), max(1, (len(got) + 1) // 2))
            for i, p in enumerate(pages):
                self.assertEqual(list(p)[0], "@odata.context")
                self.assertEqual(p["@odata.context"], EMU.base + "/v1.0/$metadata#chats(members())")
                self.assertEqual(p["@odata.count"], len(p["value"]))
                self.assertLessEqual(len(p["value"]), 2)
                self.assertEqual(list(p)[-1], "value")
                link = p.get("@odata.nextLink")
                if i < len(pages) - 1:
                    self.assertTrue(link.startswith(EMU.base + "/v1.0/users/%s/chats?" % u["id"]))
                    self.assertIn("$expand=members", link)
                    self.assertIn("$top=2", link)
                    self.assertRegex(link, r"\$skiptoken=[A-Za-z0-9%]+%3d")
                else:
                    self.assertNotIn("@odata.nextLink", p)
            for c in got:
                self.assertEqual(c["members@odata.context"],
                                 "%s/v1.0/$metadata#chats('%s')/members"
                                 % (EMU.base, urllib.parse.quote(c["id"], safe="")))

    def test_default_page_has_no_members(self):
        uid = self.users[0]["id"]
        body = EMU.get(chats_url(uid), self.tok).json()
        self.assertEqual(body["@odata.context"], EMU.base + "/v1.0/$metadata#chats")
        self.assertNotIn("@odata.nextLink", body)       # fewer than 20 chats
        self.assertEqual(body["value"], [{k: v for k, v in c.items() if k != "members"}
                                         for c in self.chats[uid]])
        for c in body["value"]:
            self.assertEqual(list(c), CHAT_KEYS)
        # one per page, without $expand
        pages, got = self.crawl_chats(uid, "?$top=1")
        self.assertEqual(len(pages), len(self.chats[uid]))
        self.assertEqual(got, body["value"])
        self.assertTrue(all("$expand" not in p.get("@odata.nextLink", "") for p in pages))

    def test_select(self):
        uid = self.users[1]["id"]
        body = EMU.get(chats_url(uid, "?$select=id,topic,chatType&$expand=members"),
                       self.tok).json()
        self.assertEqual(body["@odata.context"],
                         EMU.base + "/v1.0/$metadata#chats(id,topic,chatType,members())")
        for c, want in zip(body["value"], self.chats[uid]):
            self.assertEqual(list(c), ["id", "topic", "chatType", "members@odata.context",
                                       "members"])
            self.assertEqual(c["members"], want["members"])

    def test_top_and_query_limits(self):
        uid = self.users[0]["id"]
        self.assertEqual(EMU.get(chats_url(uid, "?$top=50"), self.tok).status, 200)
        for q in ("?$top=51", "?$top=0", "?$top=-3", "?$top=many", "?$expand=lastMessageX",
                  "?$skiptoken=bm9wZQ%3d%3d", "?$filter=chatType+eq+'group'"):
            r = EMU.get(chats_url(uid, q), self.tok)
            self.assertEqual(r.status, 400, q)
            self.assertEqual(set(r.json()["error"]), {"code", "message", "innerError"})
        # a token is bound to its user
        link = EMU.get(chats_url(uid, "?$top=1"), self.tok).json()["@odata.nextLink"]
        token = link.split("$skiptoken=")[1]
        other = self.users[1]["id"]
        self.assertEqual(EMU.get(chats_url(other, "?$top=1&$skiptoken=" + token),
                                 self.tok).status, 400)

    def test_chat_objects(self):
        names = {u["id"]: u for u in self.users}
        seen_types = set()
        for uid, chats in self.chats.items():
            self.assertEqual(len({c["id"] for c in chats}), len(chats))
            for c in chats:
                self.assertEqual(list(c), CHAT_KEYS + ["members"])
                seen_types.add(c["chatType"])
                self.assertIn(c["chatType"], ("oneOnOne", "group", "meeting"))
                self.assertEqual(c["tenantId"], TENANT)
                self.assertRegex(c["createdDateTime"], TS_RE)
                self.assertRegex(c["lastUpdatedDateTime"], TS_RE)
                self.assertGreaterEqual(parse_ts(c["lastUpdatedDateTime"]),
                                        parse_ts(c["createdDateTime"]))
                self.assertTrue(c["webUrl"].startswith("https://teams.microsoft.com/l/chat/"
                                                       + urllib.parse.quote(c["id"], safe="")))
                self.assertEqual(set(c["viewpoint"]), {"isHidden", "lastMessageReadDateTime"})
                self.assertTrue(1 <= len(c["members"]) <= 25)
                self.assertIn(uid, [m["userId"] for m in c["members"]])
                for m in c["members"]:
                    self.assertEqual(list(m), MEMBER_KEYS)
                    self.assertEqual(m["@odata.type"], "#microsoft.graph.aadUserConversationMember")
                    self.assertIsInstance(m["roles"], list)
                    if m["userId"] in names:
                        self.assertEqual(m["displayName"], names[m["userId"]]["displayName"])
                        self.assertEqual(m["email"], names[m["userId"]]["mail"])
                if c["chatType"] == "oneOnOne":
                    self.assertIsNone(c["topic"])
                    self.assertRegex(c["id"], ONE_ON_ONE_RE)
                    self.assertEqual(len(c["members"]), 2)
                    self.assertIsNone(c["onlineMeetingInfo"])
                elif c["chatType"] == "meeting":
                    self.assertRegex(c["id"], MEETING_RE)
                    self.assertTrue(c["topic"])
                    self.assertEqual(len(c["members"]), 25)    # 28 members, 25 expanded
                    self.assertTrue(c["onlineMeetingInfo"]["joinWebUrl"].startswith(
                        "https://teams.microsoft.com/l/meetup-join/"))
                elif c["id"] == "48:notes":
                    self.assertIsNone(c["topic"])
                    self.assertEqual([m["userId"] for m in c["members"]], [uid])
                else:
                    self.assertRegex(c["id"], GROUP_RE)
                    self.assertTrue(c["topic"])
        self.assertEqual(seen_types, {"oneOnOne", "group", "meeting"})

    def test_consistent_with_getallmessages(self):
        for uid, stream in TENANT_DATA["chatMessages"].items():
            listed = {c["id"] for c in self.chats[uid]}
            # every chat of the scope is listed, and (generated tenant) no other one
            self.assertEqual(chat_ids_in(stream), listed, uid)
            for c in self.chats[uid]:
                for m in c["members"]:
                    if m["userId"] in self.chats and c["id"] != "48:notes":
                        self.assertIn(c["id"], {x["id"] for x in self.chats[m["userId"]]})
        for tid, stream in TENANT_DATA["channelMessages"].items():
            self.assertEqual(channel_ids_in(stream), {c["id"] for c in self.channels[tid]})
        lonely = self.users[-1]["id"]
        self.assertEqual(self.chats[lonely], [])
        self.assertEqual(EMU.get(chats_url(lonely), self.tok).json()["value"], [])

    def test_topics(self):
        group = {}
        for chats in self.chats.values():
            for c in chats:
                if c["chatType"] == "group" and c["topic"]:
                    group[c["id"]] = c["topic"]
        topics = list(group.values())
        self.assertTrue(any("/" in t for t in topics))
        self.assertLess(len(set(topics)), len(topics))      # two chats, one topic
        self.assertTrue(any(re.search("[^\x00-\x7f]", t) for t in topics))
        self.assertIn("Project Falcon", topics)
        # the duplicate topic is seen by one user twice
        clash = [uid for uid, chats in self.chats.items()
                 if len([c for c in chats if c["topic"] == "Project Falcon"]) == 2]
        self.assertTrue(clash)

    def test_channels_route(self):
        for tid, want in self.channels.items():
            body = EMU.get("/v1.0/teams/%s/allChannels" % tid, self.tok).json()
            self.assertEqual(body["@odata.context"],
                             "%s/v1.0/$metadata#teams('%s')/allChannels" % (EMU.base, tid))
            self.assertEqual(body["@odata.count"], len(want))
            self.assertNotIn("@odata.nextLink", body)
            self.assertEqual(body["value"], want)
            self.assertEqual(want[0]["displayName"], "General")
            for c in want:
                self.assertEqual(list(c), CHANNEL_KEYS)
                self.assertRegex(c["id"], CHANNEL_RE)
                self.assertIn(c["membershipType"], ("standard", "private", "shared"))
                self.assertEqual(c["tenantId"], TENANT)
                self.assertRegex(c["createdDateTime"], TS_RE)
                self.assertIsInstance(c["email"], str)
                self.assertTrue(c["webUrl"].startswith("https://teams.microsoft.com/l/channel/"))
        names = [c["displayName"] for cs in self.channels.values() for c in cs]
        self.assertTrue(any("/" in n for n in names))
        self.assertTrue(any(len({c["displayName"] for c in cs})
                            > len({c["displayName"].casefold() for c in cs})
                            for cs in self.channels.values()))
        self.assertEqual({c["membershipType"] for cs in self.channels.values() for c in cs},
                         {"standard", "private", "shared"})
        tid = TENANT_DATA["teams"][0]["id"]
        body = EMU.get("/v1.0/teams('%s')/allchannels?$select=id,displayName,membershipType"
                       % tid, self.tok).json()
        self.assertEqual(body["value"], [{k: c[k] for k in ("id", "displayName",
                                                            "membershipType")}
                                         for c in self.channels[tid]])

    def test_users_have_names_and_a_guest(self):
        for u in self.users:
            self.assertTrue(u["displayName"])
            self.assertTrue(u["userPrincipalName"])
        guests = [u for u in self.users if "#EXT#" in u["userPrincipalName"]]
        self.assertEqual(len(guests), 1)
        guest = guests[0]
        # the UPN works as a key (with '#' percent-encoded)
        body = EMU.get(chats_url(guest["userPrincipalName"]), self.tok).json()
        self.assertEqual([c["id"] for c in body["value"]],
                         [c["id"] for c in self.chats[guest["id"]]])
        roles = [m["roles"] for cs in self.chats.values() for c in cs for m in c["members"]
                 if m["userId"] == guest["id"]]
        self.assertTrue(roles and all(r == ["guest"] for r in roles))

    def test_errors_auth_and_faults(self):
        for url in (chats_url("00000000-0000-0000-0000-000000000000"),
                    "/v1.0/teams/00000000-0000-0000-0000-000000000000/allChannels"):
            r = EMU.get(url, self.tok)
            self.assertEqual(r.status, 404)
            self.assertEqual(set(r.json()["error"]), {"code", "message", "innerError"})
            r = EMU.get(url)
            self.assertEqual(r.status, 401)
            self.assertEqual(r.json()["error"]["code"], "InvalidAuthenticationToken")
        uid = self.users[0]["id"]
        tid = TENANT_DATA["teams"][0]["id"]
        self.addCleanup(http, "DELETE", EMU.base + "/_emulator/faults")
        http("POST", EMU.base + "/_emulator/faults",
             {"match": "/users/%s/chats" % uid, "status": 429, "retry_after": 2, "count": 1})
        http("POST", EMU.base + "/_emulator/faults",
             {"match": "(?i)/allchannels", "status": 403, "count": 1})
        r = EMU.get(chats_url(uid, "?$expand=members"), self.tok)
        self.assertEqual((r.status, r.headers.get("Retry-After")), (429, "2"))
        self.assertEqual(EMU.get(chats_url(uid, "?$expand=members"), self.tok).status, 200)
        self.assertEqual(EMU.get("/v1.0/teams/%s/allChannels" % tid, self.tok).status, 403)
        self.assertEqual(EMU.get("/v1.0/teams/%s/allChannels" % tid, self.tok).status, 200)


class DirectoryLoadedTests(unittest.TestCase):
    """chats.json / channels.json round trip; lists derived from messages."""

    def test_dump_roundtrip_and_derived_lists(self):
        tmp = tempfile.mkdtemp(prefix="emu-dir-")
        self.addCleanup(shutil.rmtree, tmp, True)
        a = os.path.join(tmp, "a")
        subprocess.run([sys.executable, EMULATOR, "--dump", a, "--seed", "7", "--scale", "0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in ("chats.json", "channels.json"):
            self.assertTrue(os.path.exists(os.path.join(a, name)))
        generated = json.loads(in_process_tenant(seed=7, scale=0.1).snapshot_bytes())
        emu = Emulator("--tenant-dir", a)
        try:
            data = emu.tenant()
            self.assertEqual(data["chats"], generated["chats"])
            self.assertEqual(data["channels"], generated["channels"])
            self.assertEqual(data["users"], generated["users"])
        finally:
            emu.stop()
        # Without the two files, the lists are derived from the messages.
        os.unlink(os.path.join(a, "chats.json"))
        os.unlink(os.path.join(a, "channels.json"))
        emu = Emulator("--tenant-dir", a)
        try:
            data = emu.tenant()
            tok = emu.token()
            for uid, stream in data["chatMessages"].items():
                chats = data["chats"][uid]
                self.assertEqual({c["id"] for c in chats}, chat_ids_in(stream))
                for c in chats:
                    self.assertIsNone(c["topic"])
                    self.assertIn(uid, [m["userId"] for m in c["members"]])
                    if c["id"] == "48:notes":
                        self.assertEqual((c["chatType"], len(c["members"])), ("group", 1))
                pages = emu.crawl(emu.base + chats_url(uid, "?$expand=members&$top=3"), tok)
                self.assertEqual([without_context(c) for p in pages for c in p["value"]],
                                 chats)
            for tid, stream in data["channelMessages"].items():
                channels = data["channels"][tid]
                self.assertEqual(len(channels), len(channel_ids_in(stream)))
                self.assertEqual({c["id"] for c in channels}, channel_ids_in(stream))
                self.assertTrue(all(c["displayName"] == c["id"] for c in channels))
        finally:
            emu.stop()


class DirectorySamplesTests(unittest.TestCase):
    def test_sample_chats_and_channels_are_listed(self):
        emu = Emulator("--samples", SAMPLES, "--scale", "0.05")
        try:
            data = emu.tenant()
            uid = data["users"][0]["id"]
            tid = data["teams"][0]["id"]
            listed = {c["id"]: c for c in data["chats"][uid]}
            self.assertEqual(set(listed), chat_ids_in(data["chatMessages"][uid]))
            self.assertEqual({c["id"] for c in data["channels"][tid]},
                             channel_ids_in(data["channelMessages"][tid]))
            sample = listed["19:2da4c29f6d7041eca70b638b43d45437@thread.v2"]
            self.assertEqual((sample["chatType"], sample["topic"]), ("group", None))
            self.assertGreater(len(sample["members"]), 1)      # the owner and the senders
        finally:
            emu.stop()


class DirectoryLiveTests(SmallEmulatorTest):
    def test_new_chat_is_listed(self):
        data = self.emu.tenant()
        a, b = data["users"][0]["id"], data["users"][-1]["id"]
        r = http("POST", self.emu.base + "/_emulator/messages",
                 {"members": [a, b], "body": "a new chat"})
        self.assertEqual(r.status, 201, r.raw)
        chat_id = r.json()["chatId"]
        body = self.emu.get(chats_url(b, "?$expand=members"), self.tok).json()
        self.assertEqual([c["id"] for c in body["value"]], [chat_id])
        self.assertEqual({m["userId"] for m in body["value"][0]["members"]}, {a, b})
        after = self.emu.tenant()
        self.assertIn(chat_id, {c["id"] for c in after["chats"][a]})
        self.assertEqual(after["chats"][b], [without_context(c) for c in body["value"]])


if __name__ == "__main__":
    unittest.main()
