"""Error bodies in the shapes Microsoft Graph and Azure AD use."""

import uuid

from . import timeutil

# Default Graph error codes by HTTP status, used when a fault gives none.
DEFAULT_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    402: "PaymentRequired",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

DEFAULT_MESSAGES = {
    400: "Bad request.",
    402: "Evaluation mode capacity has been exceeded. Use a valid billing model.",
    403: "Missing role permissions on the request. API requires one of "
         "'Chat.Read.All, ChannelMessage.Read.All'.",
    404: "The requested resource does not exist.",
    429: "Too many requests. Please retry after the time given in Retry-After.",
    500: "An internal server error occurred.",
    503: "The service is temporarily unavailable. Please try again later.",
}


class GraphError(Exception):
    """Raised by route handlers; the server turns it into a Graph error response."""

    def __init__(self, status, code=None, message=None, headers=None):
        super().__init__(message or code or str(status))
        self.status = status
        self.code = code or DEFAULT_CODES.get(status, "UnknownError")
        self.message = message if message is not None else DEFAULT_MESSAGES.get(
            status, "The request failed.")
        self.headers = dict(headers or {})


def graph_error_body(code, message, request_id, client_request_id):
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": timeutil.now_iso(),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def aad_error_body(error, aadsts, description):
    """Azure AD token endpoint error: the description carries the AADSTS code,
    trace and correlation ids and a timestamp, like the real service."""
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    stamp = timeutil.now_aad()
    return {
        "error": error,
        "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s"
                             % (aadsts, description, trace_id, correlation_id, stamp),
        "error_codes": [aadsts],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % aadsts,
    }


def not_found_user(key):
    return GraphError(404, "Request_ResourceNotFound",
                      "Resource '%s' does not exist or one of its queried reference-property "
                      "objects are not present." % key)


def not_found_team(key):
    return GraphError(404, "NotFound", "No team found with Group Id %s" % key)
