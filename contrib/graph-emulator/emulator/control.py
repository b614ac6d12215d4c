"""The control API under /_emulator (no auth; not logged as requests).

  GET    /_emulator/tenant             the tenant as served, plus files and hostedContents
  GET    /_emulator/requests           the request log    POST .../requests/clear
  GET    /_emulator/downloads          the download log   POST .../downloads/clear
  POST   /_emulator/faults             add a fault        GET lists, DELETE clears
  GET    /_emulator/config             runtime config     POST changes it
  POST   /_emulator/messages           add a message      PATCH edits, DELETE deletes
  POST   /_emulator/tokens/expire      invalidate every token
  GET    /_emulator/health             status and the origins' URLs
  POST   /_emulator/shutdown           stop the emulator
"""

import json
import threading

from .errors import GraphError
from .httpbase import PLAIN_JSON


def _json_body(body):
    try:
        return json.loads(body.decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphError(400, "BadRequest", "Body is not JSON: %s" % exc)


def handle(handler, path, body):
    state = handler.server.state
    route = (handler.command, path.rstrip("/"))

    def answer(obj, status=200):
        return handler.send_json(status, obj, PLAIN_JSON)

    if route == ("GET", "/_emulator/tenant"):
        return handler.send_bytes(200, state.tenant.snapshot_bytes(), PLAIN_JSON)
    if route == ("GET", "/_emulator/requests"):
        return answer(state.requests.list())
    if route == ("POST", "/_emulator/requests/clear"):
        return answer({"cleared": state.requests.clear()})
    if route == ("GET", "/_emulator/downloads"):
        return answer(state.downloads.list())
    if route == ("POST", "/_emulator/downloads/clear"):
        return answer({"cleared": state.downloads.clear()})
    if route == ("POST", "/_emulator/faults"):
        return answer(state.faults.add(_json_body(body)), 201)
    if route == ("GET", "/_emulator/faults"):
        return answer(state.faults.list())
    if route == ("DELETE", "/_emulator/faults"):
        return answer({"cleared": state.faults.clear()})
    if route == ("GET", "/_emulator/config"):
        return answer(state.config.to_json())
    if route == ("POST", "/_emulator/config"):
        return answer(state.config.update(_json_body(body)))
    if route == ("POST", "/_emulator/messages"):
        return answer(state.live.add(_json_body(body)), 201)
    if route == ("PATCH", "/_emulator/messages"):
        return answer(state.live.edit(_json_body(body)))
    if route == ("DELETE", "/_emulator/messages"):
        return answer(state.live.delete(_json_body(body)))
    if route == ("POST", "/_emulator/tokens/expire"):
        return answer({"expired": state.authority.expire_all()})
    if route == ("GET", "/_emulator/health"):
        return answer({"status": "ok", "graph_url": handler.base_url() + "/v1.0",
                       "download_url": state.download_base})
    if route == ("POST", "/_emulator/shutdown"):
        handler.close_connection = True
        answer({"status": "shutting down"})
        threading.Thread(target=state.shutdown, daemon=True).start()
        return None
    raise GraphError(404, "NotFound", "No control route %s %s." % route)
