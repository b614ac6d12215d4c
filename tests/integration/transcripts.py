"""Helpers for the transcript tests (teamsfs issue 7): the conversation order
teamsfs must follow, text snippets to find in order, an HTML safety check
built on the standard library's parser, and a headless Chromium run whose
network log tells whether the page asked for anything.

Python standard library only.
"""

import html
import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import harness as h

EXTS = ('.html', '.txt')


def created_ns(msg):
    for key in ('createdDateTime', 'lastModifiedDateTime'):
        t = h.parse_time_ns(msg.get(key))
        if t is not None:
            return t
    return 0


def conversation_order(container):
    """The messages of a harness Container in the order transcripts show
    them: by creation time, with a thread's replies right after its root."""
    msgs = container.all_messages()
    roots = {m['id']: m for m in msgs
             if isinstance(m.get('id'), str) and m['id']
             and not m.get('replyToId')}

    def key(m):
        mid = m.get('id') if isinstance(m.get('id'), str) and m['id'] \
            else None
        name = h.msg_name(mid) if mid else ''
        reply_to = m.get('replyToId')
        if isinstance(reply_to, str) and reply_to and reply_to != mid:
            root = roots.get(reply_to)
            thread_ns = created_ns(root) if root else created_ns(m)
            return (thread_ns, reply_to, 1, created_ns(m), name)
        return (created_ns(m), mid or name, 0, created_ns(m), name)

    # Messages without an id are filed under hashed names; keep them out
    # of order checks, whose names the test cannot know.
    return sorted((m for m in msgs if isinstance(m.get('id'), str)
                   and m['id']), key=key)


def utc(ns):
    if not ns:
        return 'unknown time'
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(ns // 10**9))


def head_line(msgs):
    """The third line of a text transcript: count and time span."""
    times = [created_ns(m) for m in msgs]
    return '%d message%s, %s to %s' % (
        len(msgs), '' if len(msgs) == 1 else 's',
        utc(min(times) if times else 0), utc(max(times) if times else 0))


class _Text(html.parser.HTMLParser):
    """The text chunks of an HTML body, as a reader would see them."""

    DROP = {'script', 'style', 'iframe', 'object', 'embed', 'noscript',
            'template', 'svg', 'math', 'head', 'title', 'textarea',
            'select', 'frame', 'frameset', 'applet'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.DROP:
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in self.DROP and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.chunks.append(data)


def squeeze(s):
    return re.sub(r'\s+', '', s)


def snippet(msg):
    """A piece of the message's body text that its transcript must show
    (white space removed: wrapping moves it), or None."""
    body = msg.get('body') or {}
    content = body.get('content')
    if not isinstance(content, str) or msg.get('eventDetail') \
            or msg.get('messageType') == 'systemEventMessage':
        return None
    if body.get('contentType') == 'text':
        chunks = [content]
    else:
        p = _Text()
        p.feed(content)
        p.close()
        chunks = p.chunks
    best = max((squeeze(c) for c in chunks), key=len, default='')
    # A word longer than a line is split with no space: stay short.
    best = best[:40]
    return best if len(best) >= 4 else None


def assert_in_order(case, text, msgs, what):
    """Each message's snippet appears in @text, in the order of @msgs."""
    flat = squeeze(text)
    pos = 0
    found = 0
    for m in msgs:
        s = snippet(m)
        if not s:
            continue
        at = flat.find(s, pos)
        case.assertGreaterEqual(
            at, 0, '%s: text of message %s (%r) missing or out of order'
            % (what, m.get('id'), s))
        pos = at + len(s)
        found += 1
    return found


# ---------------------------------------------------------------------------
# HTML safety, checked with a parser

REMOTE_RE = re.compile(r'^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//|\\\\)')


class SafetyCheck(html.parser.HTMLParser):
    """Records everything in a page that could run code or leave it."""

    BAD_TAGS = {'script', 'iframe', 'frame', 'frameset', 'object', 'embed',
                'applet', 'img', 'image', 'video', 'audio', 'source',
                'track', 'link', 'base', 'form', 'input', 'button', 'svg',
                'math', 'picture', 'portal'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.hrefs = []
        self.in_style = False
        self.styles = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.BAD_TAGS:
            self.problems.append('<%s>' % tag)
        if tag == 'meta':
            d = dict(attrs)
            if (d.get('http-equiv') or '').lower() == 'refresh':
                self.problems.append('meta refresh')
        if tag == 'style':
            self.in_style = True
            self.styles += 1
        for name, value in attrs:
            value = value or ''
            if name.startswith('on'):
                self.problems.append('%s=%r on <%s>' % (name, value, tag))
            if name in ('src', 'srcset', 'data', 'action', 'formaction',
                        'background', 'poster', 'xlink:href', 'style'):
                self.problems.append('%s=%r on <%s>' % (name, value, tag))
            if name == 'href':
                if REMOTE_RE.match(value):
                    self.problems.append('remote href %r' % value)
                self.hrefs.append(value)
            if 'javascript:' in value.lower().replace(' ', ''):
                self.problems.append('javascript: in %s' % name)

    def handle_endtag(self, tag):
        if tag == 'style':
            self.in_style = False

    def handle_data(self, data):
        if self.in_style and ('url(' in data or '@import' in data):
            self.problems.append('remote reference in <style>')


def check_html(data):
    """-> (problems, relative hrefs) of an HTML page."""
    p = SafetyCheck()
    p.feed(data)
    p.close()
    if p.styles > 1:
        p.problems.append('%d <style> elements (one is ours)' % p.styles)
    return p.problems, p.hrefs


def href_target(html_path, href):
    """The file a relative link of page @html_path leads to."""
    rel = urllib.parse.unquote(href.split('#')[0])
    return os.path.normpath(os.path.join(os.path.dirname(html_path), rel))


# ---------------------------------------------------------------------------
# Headless Chromium

def chromium_binary():
    for name in ('chromium', 'chromium-browser', 'chromium-headless-shell'):
        path = shutil.which(name)
        if path:
            return path
    return None


def open_in_chromium(page, workdir, canary_port):
    """Opens file @page in headless Chromium with the network blocked (no
    network namespace interfaces when unshare works; every request sent to
    a loopback proxy that answers nothing useful), takes a screenshot and
    returns (screenshot path, [URLs Chromium tried to fetch]) from its
    network log."""
    exe = chromium_binary()
    if not exe:
        raise AssertionError('chromium is not installed (contrib/install-deps '
                             'installs it)')
    shot = os.path.join(workdir, 'shot.png')
    netlog = os.path.join(workdir, 'netlog.json')
    profile = tempfile.mkdtemp(prefix='chromium-', dir=workdir)
    for p in (shot, netlog):
        if os.path.exists(p):
            os.unlink(p)
    argv = [exe, '--headless', '--no-sandbox', '--disable-gpu',
            '--no-first-run', '--no-default-browser-check',
            '--disable-background-networking', '--disable-sync',
            '--disable-component-update', '--disable-default-apps',
            '--disable-extensions', '--metrics-recording-only',
            '--disable-client-side-phishing-detection', '--no-pings',
            '--disable-domain-reliability', '--disable-breakpad',
            '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
            '--user-data-dir=' + profile,
            '--proxy-server=http://127.0.0.1:%d' % canary_port,
            '--proxy-bypass-list=<-loopback>',
            '--log-net-log=' + netlog, '--net-log-capture-mode=Everything',
            '--window-size=1000,1400', '--virtual-time-budget=3000',
            '--screenshot=' + shot, 'file://' + urllib.parse.quote(page)]
    env = dict(os.environ, HOME=workdir)
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, env=env, timeout=120,
                   check=False)
    if not os.path.exists(shot):
        raise AssertionError('chromium wrote no screenshot of %s' % page)
    return shot, fetched_urls(netlog)


def fetched_urls(netlog):
    """URLs the page asked for, from a Chromium network log: every request
    started for a document (its initiator an origin or null, not "not an
    origin" as for the browser's own update and account checks, which go
    to the blocking proxy too), other than file: and data: URLs."""
    try:
        with open(netlog, encoding='utf-8', errors='replace') as fh:
            text = fh.read()
    except FileNotFoundError:
        raise AssertionError('chromium wrote no network log')
    try:
        log = json.loads(text)
    except ValueError:
        # cut short when Chromium stops: close the event list
        log = json.loads(text.rstrip().rstrip(',') + ']}')
    types = {v: k for k, v in log['constants']['logEventTypes'].items()}
    urls = set()
    for e in log.get('events', []):
        p = e.get('params') or {}
        if types.get(e.get('type')) != 'URL_REQUEST_START_JOB':
            continue
        if p.get('initiator') == 'not an origin':
            continue
        url = p.get('url')
        if url and not url.startswith(('file:', 'data:', 'about:', 'chrome:')):
            urls.add(url)
    return sorted(urls)


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] != b'\x89PNG\r\n\x1a\n':
        raise AssertionError('%s is not a PNG' % path)
    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24],
                                                              'big')


def json_dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


def unescape(s):
    return html.unescape(s)
