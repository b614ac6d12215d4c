"""Runtime configuration (GET/POST /_emulator/config) and skip-token ages.

  latency_ms        added before answering every /v1.0 request
  token_lifetime    seconds, for tokens issued from now on
  skiptoken_ttl     seconds a next link stays valid (null: forever); older
                    links answer 400 BadRequest
  repeat_skiptoken  N >= 2: from the N-th page of a getAllMessages walk on,
                    the next link is the link that led to that page, so a
                    naive client loops forever (1 acts as 2; 0: off)
  download_url_ttl  seconds a pre-authenticated download URL stays valid
"""

import threading
import time

from .errors import GraphError


def _number(value, name, positive=False, allow_none=False, integer=False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, int) or float(value).is_integer()
    if not ok or value < 0 or (positive and value == 0):
        raise GraphError(400, "BadRequest", "'%s' must be a %s%s%s." % (
            name, "positive" if positive else "non-negative",
            " integer" if integer else " number", " or null" if allow_none else ""))
    return int(value) if integer else value


class Config:
    FIELDS = ("latency_ms", "token_lifetime", "skiptoken_ttl", "repeat_skiptoken",
              "download_url_ttl")

    def __init__(self, authority, latency_ms=0, skiptoken_ttl=None, repeat_skiptoken=0,
                 download_url_ttl=600):
        self.authority = authority
        self.latency_ms = latency_ms
        self.skiptoken_ttl = skiptoken_ttl
        self.repeat_skiptoken = repeat_skiptoken
        self.download_url_ttl = download_url_ttl
        self._lock = threading.Lock()

    def to_json(self):
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "token_lifetime": self.authority.lifetime,
                "skiptoken_ttl": self.skiptoken_ttl,
                "repeat_skiptoken": self.repeat_skiptoken,
                "download_url_ttl": self.download_url_ttl,
            }

    def update(self, obj):
        """Apply a POSTed object; nothing changes if any value is refused."""
        if not isinstance(obj, dict):
            raise GraphError(400, "BadRequest", "Config must be a JSON object.")
        unknown = sorted(set(obj) - set(self.FIELDS))
        if unknown:
            raise GraphError(400, "BadRequest", "Unknown config key(s): %s. Known: %s."
                             % (", ".join(unknown), ", ".join(self.FIELDS)))
        checked = {}
        if "latency_ms" in obj:
            checked["latency_ms"] = _number(obj["latency_ms"], "latency_ms")
        if "token_lifetime" in obj:
            checked["token_lifetime"] = _number(obj["token_lifetime"], "token_lifetime",
                                                positive=True)
        if "skiptoken_ttl" in obj:
            checked["skiptoken_ttl"] = _number(obj["skiptoken_ttl"], "skiptoken_ttl",
                                               allow_none=True)
        if "repeat_skiptoken" in obj:
            checked["repeat_skiptoken"] = _number(obj["repeat_skiptoken"], "repeat_skiptoken",
                                                  integer=True)
        if "download_url_ttl" in obj:
            checked["download_url_ttl"] = _number(obj["download_url_ttl"], "download_url_ttl",
                                                  positive=True)
        with self._lock:
            for name, value in checked.items():
                if name == "token_lifetime":
                    self.authority.lifetime = float(value)
                else:
                    setattr(self, name, value)
        return self.to_json()

    def latency(self):
        return self.latency_ms / 1000.0

    def repeat_from_page(self):
        """1-based page number from which next links repeat, or None."""
        n = self.repeat_skiptoken
        return None if not n else max(2, n)


class SkipTokenLedger:
    """When each skip token was last handed out in a next link. Links carry
    no time themselves, so that equal requests keep giving equal links."""

    LIMIT = 100_000

    def __init__(self):
        self._issued = {}
        self._lock = threading.Lock()

    def issued(self, token):
        with self._lock:
            if len(self._issued) >= self.LIMIT:
                cut = sorted(self._issued.values())[len(self._issued) // 2]
                self._issued = {k: v for k, v in self._issued.items() if v > cut}
            self._issued[token] = time.monotonic()

    def expired(self, token, ttl):
        """True if the token is older than ttl seconds, or was never issued."""
        with self._lock:
            when = self._issued.get(token)
        return when is None or time.monotonic() - when > ttl
