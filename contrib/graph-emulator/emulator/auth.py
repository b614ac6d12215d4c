"""Client-credentials tokens: issuing (the Azure AD side) and checking (Graph side).

Tokens are opaque random strings; each expires `lifetime` seconds after it was
issued. Nothing about them is meaningful to a client.
"""

import base64
import secrets
import threading
import time
import urllib.parse

from .errors import aad_error_body


class TokenError(Exception):
    """A token request the emulator refuses; carries the AAD error response."""

    def __init__(self, status, body):
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


class Authority:
    def __init__(self, tenant_id, client_id, client_secret, lifetime,
                 tenant_domain="contoso.onmicrosoft.com"):
        self.tenant_id = tenant_id
        self.tenant_domain = tenant_domain
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = float(lifetime)
        self._tokens = {}          # token -> monotonic expiry
        self._lock = threading.Lock()

    # -- issuing -----------------------------------------------------------

    def knows_tenant(self, tenant):
        t = tenant.lower()
        return t in (self.tenant_id.lower(), self.tenant_domain.lower())

    def issue(self, tenant, form, authorization=None):
        """Handle a token request. `form` maps field -> value (first value).
        Returns the success body or raises TokenError."""
        if not self.knows_tenant(tenant):
            raise TokenError(400, aad_error_body(
                "invalid_request", 90002,
                "Tenant '%s' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions "
                "for the tenant." % tenant))
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        # client_secret_basic: credentials in an HTTP Basic header.
        if authorization and authorization[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(authorization[6:].strip()).decode("utf-8")
                user, _, password = raw.partition(":")
                client_id = client_id or urllib.parse.unquote_plus(user)
                client_secret = client_secret or urllib.parse.unquote_plus(password)
            except (ValueError, UnicodeDecodeError):
                pass
        grant_type = form.get("grant_type")
        if not grant_type:
            raise TokenError(400, aad_error_body(
                "invalid_request", 900144,
                "The request body must contain the following parameter: 'grant_type'."))
        if grant_type != "client_credentials":
            raise TokenError(400, aad_error_body(
                "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type '%s'." % grant_type))
        if not client_id:
            raise TokenError(400, aad_error_body(
                "invalid_request", 900144,
                "The request body must contain the following parameter: 'client_id'."))
        scope = form.get("scope")
        if not scope:
            raise TokenError(400, aad_error_body(
                "invalid_request", 90014,
                "The required field 'scope' is missing from the credential."))
        if not scope.strip().endswith("/.default"):
            raise TokenError(400, aad_error_body(
                "invalid_scope", 1002012,
                "The provided value for scope %s is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource "
                "identifier (application ID URI)." % scope))
        if client_id != self.client_id or client_secret != self.client_secret:
            raise TokenError(401, aad_error_body(
                "invalid_client", 7000215,
                "Invalid client secret provided. Ensure the secret being sent in the "
                "request is the client secret value, not the client secret ID, for a "
                "secret added to app '%s'." % client_id))
        token = secrets.token_urlsafe(48)
        with self._lock:
            now = time.monotonic()
            # Forget tokens that expired long ago so the table stays small.
            for old in [k for k, v in self._tokens.items() if v < now - 3600]:
                del self._tokens[old]
            self._tokens[token] = now + self.lifetime
        seconds = max(0, int(round(self.lifetime)))
        return {
            "token_type": "Bearer",
            "expires_in": seconds,
            "ext_expires_in": seconds,
            "access_token": token,
        }

    # -- checking ----------------------------------------------------------

    def check(self, authorization):
        """True if the Authorization header carries a live token."""
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        token = token.strip()
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def expire_all(self):
        """Make every issued token invalid (control API)."""
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
        return n
