"""Helpers of bench/run: processes, mounts, sampling, the emulator client, the table."""

import http.client
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "teamsfs-demo"
SECRET = "demo-secret"
CLK = os.sysconf("SC_CLK_TCK")


def say(text):
    print("bench: %s" % text, flush=True)


def q(s):
    return shlex.quote(s)


def escape(ident):
    """An id as a teamsfs file name (the ids of the bulk tenant are short)."""
    if ident in (".", ".."):
        return "%2E" * len(ident)
    return ident.replace("%", "%25").replace("/", "%2F")


def sh(cmd, cwd=None):
    """Run a shell pipeline (bash, pipefail); its stdout, or raise."""
    p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("%r in %s failed (%d): %s" % (cmd, cwd, p.returncode,
                                                         p.stderr.strip()[-2000:]))
    return p.stdout


def du_disk(path):
    return int(sh("du -s --block-size=1 %s" % q(path)).split()[0])


def du_apparent(path):
    return int(sh("du -s -b %s" % q(path)).split()[0])


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        mem = 0
    return {"cpus": os.cpu_count(), "cpu": model, "mem_mib": mem,
            "kernel": platform.release()}


def ensure_rclone():
    found = shutil.which("rclone")
    if found:
        return found
    say("installing rclone with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-q", "rclone"],
                ["sh", "-c", "apt-get update -q && apt-get install -y -q rclone"]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode == 0:
            break
    return shutil.which("rclone")


def log_problems(path):
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip() for line in f if "error:" in line or "warning:" in line]
    except OSError:
        return []


def rss_anon_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return None


class RssSampler:
    """Peak RssAnon of a process, sampled every 20 ms in a thread."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval):
        while not self._stop.is_set():
            v = rss_anon_kib(self.pid)
            if v is None:
                break
            self.peak = max(self.peak, v)
            self.samples += 1
            self._stop.wait(interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


class Emulator:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.base = "http://127.0.0.1:%d" % port

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=600) as r:
            return json.loads(r.read())

    def post(self, path, obj):
        req = urllib.request.Request(self.base + path, data=json.dumps(obj).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def token(self):
        form = urllib.parse.urlencode({"client_id": CLIENT, "client_secret": SECRET,
                                       "grant_type": "client_credentials",
                                       "scope": "https://graph.microsoft.com/.default"})
        req = urllib.request.Request(self.base + "/%s/oauth2/v2.0/token" % TENANT,
                                     data=form.encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["access_token"]

    def teamsfs_opts(self, cache_dir):
        return ("tenant=%s,client_id=%s,graph_url=%s/v1.0,token_url=%s/%s/oauth2/v2.0/token,"
                "cache_dir=%s" % (TENANT, CLIENT, self.base, self.base, TENANT, cache_dir))


class Mount:
    def __init__(self, proc, directory):
        self.proc = proc
        self.dir = directory


class Env:
    """The scratch directory and everything started in it, undone by cleanup()."""

    def __init__(self, work, keep=False):
        self.work = work
        self.keep = keep
        self.procs = []         # (proc, what)
        self.mounts = []        # (directory, proc)

    def path(self, name):
        return os.path.join(self.work, name)

    def _spawn(self, argv, log, env=None, what=""):
        f = open(log, "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=env)
        f.close()
        self.procs.append((p, what))
        return p

    def start_emulator(self, script, messages):
        port_file = self.path("emulator.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        p = self._spawn([script, "--bulk-messages", str(messages), "--port-file", port_file],
                        self.path("emulator.log"), what="emulator")
        deadline = time.monotonic() + 120
        while not os.path.exists(port_file):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start; see %s"
                                   % self.path("emulator.log"))
            time.sleep(0.05)
        with open(port_file) as f:
            return Emulator(p, int(f.read().strip()))

    def _wait_mounted(self, directory, proc, log):
        deadline = time.monotonic() + 60
        while not os.path.ismount(directory):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mount at %s failed; see %s" % (directory, log))
            time.sleep(0.05)

    def mount_teamsfs(self, teamsfs, opts, directory, log):
        os.makedirs(directory, exist_ok=True)
        env = dict(os.environ, TEAMSFS_CLIENT_SECRET=SECRET)
        p = self._spawn([teamsfs, "-f", "-o", opts, directory], log, env, "teamsfs")
        self.mounts.append((directory, p))
        self._wait_mounted(directory, p, log)
        return Mount(p, directory)

    def mount_rclone(self, rclone, source, directory, log):
        os.makedirs(directory, exist_ok=True)
        env = dict(os.environ, RCLONE_CONFIG=self.path("rclone.conf"))
        p = self._spawn([rclone, "mount", "--read-only", ":local:" + os.path.abspath(source),
                         directory], log, env, "rclone")
        self.mounts.append((directory, p))
        self._wait_mounted(directory, p, log)
        return directory

    def unmount_all(self):
        for directory, proc in reversed(self.mounts):
            if os.path.ismount(directory):
                r = subprocess.run(["fusermount3", "-u", directory], stderr=subprocess.PIPE)
                if r.returncode != 0:
                    time.sleep(1)
                    subprocess.run(["fusermount3", "-u", "-z", directory],
                                   stderr=subprocess.DEVNULL)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(10)
        self.mounts = []

    def cleanup(self):
        try:
            self.unmount_all()
        except Exception as exc:  # keep cleaning
            say("cleanup: %s" % exc)
        for p, what in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def run_sync(teamsfs, opts, emu, log, stop_after=None):
    """Time `teamsfs sync`; peak RssAnon, CPU of teamsfs and of the emulator."""
    env = dict(os.environ, TEAMSFS_CLIENT_SECRET=SECRET)
    emu_cpu0 = cpu_seconds(emu.proc.pid)
    with open(log, "ab") as f:
        t0 = time.monotonic()
        p = subprocess.Popen([teamsfs, "sync", "-o", opts], stdin=subprocess.DEVNULL,
                             stdout=f, stderr=f, env=env)
    sampler = RssSampler(p.pid)
    if stop_after is not None:
        try:
            p.wait(stop_after)
        except subprocess.TimeoutExpired:
            p.send_signal(2)
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    peak = sampler.stop()
    emu_cpu = cpu_seconds(emu.proc.pid) - emu_cpu0
    if stop_after is None and p.returncode != 0:
        raise RuntimeError("teamsfs sync exited %d; see %s" % (p.returncode, log))
    cpu = ru.ru_utime + ru.ru_stime
    return {"seconds": secs, "exit": p.returncode, "peak_rss_anon_kib": peak,
            "max_rss_kib": ru.ru_maxrss, "cpu_seconds": cpu, "cpu_percent": 100 * cpu / secs,
            "emulator_cpu_percent": 100 * emu_cpu / secs, "rss_samples": sampler.samples}


_NEXT = re.compile(rb'"@odata\.nextLink":"([^"]+)"')
_COUNT = re.compile(rb'"@odata\.count":(\d+)')


def emulator_rate(emu, summary, seconds=8.0, clients=4):
    """Pages and messages per second the emulator serves on its own to a few
    keep-alive clients walking the biggest scopes (the clients share the CPUs)."""
    token = emu.token()
    scopes = sorted(summary["scopeMessages"].items(), key=lambda kv: -kv[1])[:clients]
    counts = [[0, 0] for _ in scopes]
    stop = time.monotonic() + seconds

    def walk(i, key):
        kind, ident = key.split("/", 1)
        what = "chats" if kind == "users" else "channels"
        path = "/v1.0/%s/%s/%s/getAllMessages?$top=50" % (kind, ident, what)
        conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=60)
        while path and time.monotonic() < stop:
            conn.request("GET", path, headers={"Authorization": "Bearer " + token,
                                               "Prefer": "include-unknown-enum-members"})
            body = conn.getresponse().read()
            counts[i][0] += 1
            m = _COUNT.search(body)
            counts[i][1] += int(m.group(1)) if m else 0
            n = _NEXT.search(body)
            path = None
            if n:
                u = urllib.parse.urlsplit(n.group(1).decode())
                path = u.path + "?" + u.query
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=walk, args=(i, k)) for i, (k, _) in enumerate(scopes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    pages = sum(c[0] for c in counts)
    msgs = sum(c[1] for c in counts)
    return {"seconds": secs, "clients": len(scopes), "pages": pages, "messages": msgs,
            "pages_per_s": pages / secs, "messages_per_s": msgs / secs}


# -- the table ----------------------------------------------------------------------

def _mib(kib):
    return "%.1f MiB" % (kib / 1024.0)


def table(r):
    t = r["tenant"]
    c, lat, s = r["crawl"], r["crawl_latency"], r["sizes"]
    rows = [
        ("Tenant", "%d distinct messages (%d served in %d scopes), %d chats, %d channels; "
         "largest chat %d" % (t["messagesUnique"], t["messagesServed"], len(t["scopeMessages"]),
                              t["chats"], t["channels"], t["bigChat"]["messages"]), ""),
        ("Emulator alone", "%.0f messages/s (%.0f pages/s, %d clients)" % (
            r["emulator_rate"]["messages_per_s"], r["emulator_rate"]["pages_per_s"],
            r["emulator_rate"]["clients"]), "ceiling for the crawl figure"),
        ("Cold crawl, 0 ms", "%.0f messages/s (%.1f s, %.0f requests/s; teamsfs CPU %.0f%%, "
         "emulator CPU %.0f%%)" % (c["messages_per_s"], c["seconds"], c["requests_per_s"],
                                   c["cpu_percent"], c["emulator_cpu_percent"]),
         ">= 50,000 messages/s"),
        ("Crawl, %g ms latency" % lat["latency_ms"], "%.1f requests/s of max_rps=%d (%.0f%%)" % (
            lat["requests_per_s"], lat["max_rps"], 100 * lat["fraction_of_budget"]),
         ">= 90%"),
    ]
    targets = {"tar": "<= 2x native, < rclone", "grep": "<= 2x native, < rclone",
               "find": "", "ls_l_big_chat": "< 1 s"}
    for op, per in r["reads"].items():
        cells = []
        for name in ("native", "teamsfs", "rclone"):
            if name in per:
                x = per[name]
                cells.append("%s %.3f s%s" % (name, x["median"], "" if name == "native"
                                              else " (%.2fx)" % x["ratio"]))
        label = {"tar": "Warm tar \\| wc -c", "grep": "Warm grep -r (rare word)",
                 "find": "Warm find \\| wc -l",
                 "ls_l_big_chat": "Warm ls -l, %d-message chat" % t["bigChat"]["messages"]}[op]
        rows.append((label, "; ".join(cells), targets[op]))
    rows += [
        ("Peak RssAnon, crawl", _mib(c["peak_rss_anon_kib"]), "< 100 MiB"),
        ("Peak RssAnon, warm tar", _mib(r["tar_peak_rss_anon_kib"]), "< 100 MiB"),
        ("Cache on disk", "%.0f MiB = %.2fx raw JSON served (%.0f MiB), %.2fx distinct "
         "(%.0f MiB); native files %.0f MiB" % (
             s["cache_disk_bytes"] / 2**20, s["cache_vs_raw_served"],
             s["raw_json_served_bytes"] / 2**20, s["cache_vs_raw_unique"],
             s["raw_json_unique_bytes"] / 2**20, s["native_tree_disk_bytes"] / 2**20),
         "<= 1.5x raw JSON"),
    ]
    out = ["| measure | result | target |", "| --- | --- | --- |"]
    out += ["| %s | %s | %s |" % row for row in rows]
    m = r["machine"]
    out.append("")
    has_rclone = any("rclone" in per for per in r["reads"].values())
    out.append("%d CPUs (%s), %d MiB, Linux %s; median of %d runs%s." % (
        m["cpus"], m["cpu"], m["mem_mib"], m["kernel"], r["runs"],
        " (rclone %d)" % r["rclone_runs"] if has_rclone else ", rclone not run"))
    return "\n".join(out)
