"""Injected faults: rules that make matching requests fail on purpose.

A rule matches a Python regex against the raw path and query of any request
that is not a control call (token, Graph and download-origin requests). The
first live rule that matches is used and loses one use.

What a rule does, checked in this order (after an optional `delay`):
  reset      close the connection with a TCP reset, no answer
  drop       close the connection (orderly), no answer
  malformed  200 with a body that is not JSON
  truncate   handle the request normally, but send only the first N bytes of
             the body (the headers announce the whole length), then close
  otherwise  a Graph error with `status`, `code`, `message`, and optionally
             Retry-After (`retry_after` seconds; as an HTTP date if
             `retry_after_date` is true)
"""

import email.utils
import math
import re
import threading
import time

from .errors import GraphError
from .httpbase import GRAPH_JSON

# Looks like the start of a Graph page cut off by a proxy's HTML error page.
MALFORMED_BODY = (b'{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#'
                  b'Collection(chatMessage)","@odata.count":20,"value":[{"id":"17'
                  b'<html><head><title>502 Bad Gateway</title></head>'
                  b'<body><h1>502 Bad Gateway</h1></body></html>\r\n')

_ACTIONS = ("reset", "drop", "malformed", "truncate")


def _number(spec, name, minimum=0):
    v = spec.get(name)
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < minimum):
        raise GraphError(400, "BadRequest", "'%s' must be a non-negative number." % name)
    return v


def _flag(spec, name):
    v = spec.get(name, False)
    if not isinstance(v, bool):
        raise GraphError(400, "BadRequest", "'%s' must be true or false." % name)
    return v


class Faults:
    """The live fault rules."""

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
        retry_after = _number(spec, "retry_after")
        delay = _number(spec, "delay")
        truncate = spec.get("truncate")
        if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, int)
                                     or truncate < 0):
            raise GraphError(400, "BadRequest", "'truncate' must be a non-negative integer.")
        flags = {name: _flag(spec, name) for name in ("drop", "reset", "malformed",
                                                      "retry_after_date")}
        chosen = [a for a in _ACTIONS if (truncate is not None if a == "truncate" else flags[a])]
        if len(chosen) > 1:
            raise GraphError(400, "BadRequest", "Use only one of %s in a fault, not %s."
                             % (", ".join(_ACTIONS), " and ".join(chosen)))
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
                "retry_after": retry_after,
                "retry_after_date": flags["retry_after_date"],
                "delay": delay,
                "drop": flags["drop"],
                "reset": flags["reset"],
                "malformed": flags["malformed"],
                "truncate": truncate,
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


def retry_after_value(fault, now=None):
    ra = fault["retry_after"]
    if fault.get("retry_after_date"):
        seconds = 1 if ra is None else ra
        when = math.ceil((time.time() if now is None else now) + seconds)
        return email.utils.formatdate(when, usegmt=True)
    if ra is None:
        return None
    return str(int(ra)) if float(ra).is_integer() else str(ra)


def apply(handler, fault):
    """Carry out a fault on a request (httpbase.BaseHandler). True if the
    request is finished; False if it must be handled normally (truncate)."""
    if fault.get("delay"):
        time.sleep(fault["delay"])
    if fault.get("reset"):
        handler.abort(reset=True)
        return True
    if fault.get("drop"):
        handler.abort(reset=False)
        return True
    if fault.get("malformed"):
        handler.send_bytes(200, MALFORMED_BODY, GRAPH_JSON)
        return True
    if fault.get("truncate") is not None:
        handler._truncate = fault["truncate"]
        return False
    headers = {}
    value = retry_after_value(fault)
    if value is not None:
        headers["Retry-After"] = value
    handler.send_graph_error(GraphError(fault["status"], fault["code"], fault["message"],
                                        headers))
    return True
