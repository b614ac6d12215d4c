"""Command line of graph-emulator."""

import argparse
import os
import signal
import sys
import threading

from . import generate as generator
from .auth import Authority
from .downloads import DownloadServer
from .server import EmulatorServer, State
from .settings import Config
from .tenant import load_samples, load_tenant_dir

DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEFAULT_CLIENT = "teamsfs-demo"
DEFAULT_SECRET = "demo-secret"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="graph-emulator",
        description="Microsoft Graph emulator for teamsfs tests (Teams export APIs, "
                    "client-credentials tokens, a control API for tests).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--tenant-dir", help="load the tenant from this directory instead of "
                                        "generating it")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated tenant (default 1)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply generated message counts (default 1)")
    p.add_argument("--samples", help="add the chat messages found in the JSON files of this "
                                     "directory (e.g. tests/data/samples)")
    p.add_argument("--tenant-id", help="tenant id (default %s)" % DEFAULT_TENANT)
    p.add_argument("--client-id", default=DEFAULT_CLIENT,
                   help="accepted client id (default %s)" % DEFAULT_CLIENT)
    p.add_argument("--client-secret-file", help="accepted secret: first line of this file "
                                                "(default secret: %s)" % DEFAULT_SECRET)
    p.add_argument("--token-lifetime", type=float, default=3600.0,
                   help="seconds a token lives (default 3600)")
    p.add_argument("--dump", metavar="DIR", help="write the tenant to DIR (tenant-dir layout) "
                                                 "and exit")
    p.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    p.add_argument("--download-port", type=int, default=0,
                   help="port of the download origin (file bytes); 0 picks a free one")
    p.add_argument("--download-port-file",
                   help="write the download origin's port here once listening")
    p.add_argument("--large-files", action="store_true",
                   help="the generated tenant also gets a 200 MiB file")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="milliseconds added before answering every /v1.0 request")
    p.add_argument("--skiptoken-ttl", type=float, default=None,
                   help="seconds a next link stays valid (default: forever)")
    p.add_argument("--repeat-skiptoken", type=int, default=0, metavar="N",
                   help="from the N-th page of a getAllMessages walk on, repeat the "
                        "previous next link (default 0: off)")
    p.add_argument("--bulk-messages", type=int, default=0, metavar="N",
                   help="serve a large synthetic tenant of N messages, rendered per page "
                        "on demand (benchmarks; see emulator/bulk.py)")
    args = p.parse_args(argv)
    if args.bulk_messages and (args.bulk_messages < 100 or args.tenant_dir or args.samples
                               or args.dump):
        p.error("--bulk-messages needs N >= 100 and no --tenant-dir, --samples or --dump")
    if args.scale <= 0:
        p.error("--scale must be positive")
    if args.token_lifetime <= 0:
        p.error("--token-lifetime must be positive")
    if args.latency_ms < 0 or (args.skiptoken_ttl is not None and args.skiptoken_ttl < 0) \
            or args.repeat_skiptoken < 0:
        p.error("--latency-ms, --skiptoken-ttl and --repeat-skiptoken must not be negative")
    return args


def read_secret(path):
    with open(path, encoding="utf-8") as f:
        line = f.readline()
    return line.rstrip("\r\n")


def build_tenant(args):
    if args.bulk_messages:
        from .bulk import BulkTenant
        tenant = BulkTenant(args.bulk_messages, args.seed, args.tenant_id or DEFAULT_TENANT)
    elif args.tenant_dir:
        tenant = load_tenant_dir(args.tenant_dir, args.tenant_id, DEFAULT_TENANT, args.seed)
    else:
        tenant = generator.generate(args.seed, args.scale, args.tenant_id or DEFAULT_TENANT,
                                    args.large_files)
    if args.samples:
        chat, channel, used, skipped = load_samples(args.samples)
        tenant.add_samples(chat, channel, args.seed)
        print("graph-emulator: samples: %d chat and %d channel messages from %d files "
              "(%d files skipped)" % (len(chat), len(channel), len(used), len(skipped)),
              file=sys.stderr)
    return tenant


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        tenant = build_tenant(args)
        secret = read_secret(args.client_secret_file) if args.client_secret_file else DEFAULT_SECRET
    except (OSError, ValueError) as exc:
        print("graph-emulator: error: %s" % exc, file=sys.stderr)
        return 2
    if args.dump:
        tenant.dump(args.dump)
        print("graph-emulator: wrote tenant to %s" % args.dump, file=sys.stderr)
        return 0

    authority = Authority(tenant.tenant_id, args.client_id, secret, args.token_lifetime)
    config = Config(authority, latency_ms=args.latency_ms, skiptoken_ttl=args.skiptoken_ttl,
                    repeat_skiptoken=args.repeat_skiptoken)
    state = State(tenant, authority, log_requests=args.log_requests, config=config)
    try:
        downloads = DownloadServer((args.host, args.download_port), state)
    except OSError as exc:
        print("graph-emulator: error: cannot listen on %s:%d: %s"
              % (args.host, args.download_port, exc), file=sys.stderr)
        return 1
    try:
        server = EmulatorServer((args.host, args.port), state)
    except OSError as exc:
        downloads.server_close()
        print("graph-emulator: error: cannot listen on %s:%d: %s" % (args.host, args.port, exc),
              file=sys.stderr)
        return 1
    if args.bulk_messages:
        from .bulk import no_delay
        no_delay(server)
    host, port = server.server_address[:2]
    dhost, dport = downloads.server_address[:2]
    if dhost in ("0.0.0.0", "::"):
        dhost = "127.0.0.1"
    state.download_server = downloads
    state.download_base = "http://%s:%d" % (dhost if ":" not in dhost else "[%s]" % dhost, dport)
    download_thread = threading.Thread(target=downloads.serve_forever,
                                       kwargs={"poll_interval": 0.2},
                                       name="download-origin", daemon=True)
    download_thread.start()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.download_port_file:
        write_port_file(args.download_port_file, dport)
    if args.port_file:
        write_port_file(args.port_file, port)
    print("graph-emulator: listening on http://%s:%d" % (host, port), flush=True)
    print("graph-emulator: download origin on %s" % state.download_base, file=sys.stderr,
          flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        downloads.shutdown()
        download_thread.join(5)
        downloads.server_close()
        server.server_close()
    return 0
