"""JWT verification as Coinbase does it, for the simulator.

The simulator must refuse what the real exchange refuses, or clients that work against it
fail in production: a wrong signature, an unknown key, an expired token, or a REST token
whose ``uri`` claim names another method, host or path (``reference/coinbase-api.md`` §1.4).
A revoked key (a fault the scenarios inject) is refused from then on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import final

import attrs
import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..exchange.auth import rest_uri

__all__ = ["AuthFailure", "JwtVerifier", "RegisteredKey"]

#: Clock skew tolerated on ``nbf`` and ``exp``, seconds.
LEEWAY = 5


@attrs.frozen(kw_only=True)
class RegisteredKey:
    """A key the simulator accepts: its name and PEM public key."""

    name: str
    public_key_pem: bytes = attrs.field(repr=False)


@final
class AuthFailure(Exception):
    """A token was refused; ``reason`` is for the simulator's own log, not the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@final
class JwtVerifier:
    """Verifies REST and WebSocket tokens against the registered keys.

    Args:
        keys: the keys to accept.
        hosts: the host[:port] strings a REST ``uri`` claim may name (the address clients
            were given, plus ``api.coinbase.com`` for clients that hard-code it).
        now: epoch seconds.
    """

    def __init__(
        self,
        keys: Iterable[RegisteredKey],
        *,
        hosts: Iterable[str],
        now: Callable[[], float] = time.time,
    ) -> None:
        self._keys = {key.name: load_pem_public_key(key.public_key_pem) for key in keys}
        self._hosts = set(hosts)
        self._revoked: set[str] = set()
        self._now = now

    def add_host(self, host: str) -> None:
        self._hosts.add(host)

    def add_key(self, key: RegisteredKey) -> None:
        self._keys[key.name] = load_pem_public_key(key.public_key_pem)

    def revoke(self, key_name: str) -> None:
        """From now on, tokens signed by this key are refused (a fault for scenarios)."""
        self._revoked.add(key_name)

    def restore(self, key_name: str) -> None:
        self._revoked.discard(key_name)

    def verify_rest(self, authorization: str | None, method: str, path: str) -> str:
        """Return the key name, or raise :class:`AuthFailure`."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthFailure("no bearer token")
        claims = self._verify(authorization.removeprefix("Bearer ").strip())
        uri = claims.get("uri")
        if not isinstance(uri, str):
            raise AuthFailure("REST token without a uri claim")
        allowed = {rest_uri(method, host, path) for host in self._hosts}
        if uri not in allowed:
            raise AuthFailure(f"uri claim {uri!r} does not match the request")
        return str(claims["sub"])

    def verify_ws(self, token: object) -> str:
        """Return the key name of a subscribe message's ``jwt``, or raise :class:`AuthFailure`."""
        if not isinstance(token, str) or not token:
            raise AuthFailure("no jwt in the message")
        return str(self._verify(token)["sub"])

    def _verify(self, token: str) -> dict[str, object]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AuthFailure(f"malformed token: {error}") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise AuthFailure("unknown key")
        if kid in self._revoked:
            raise AuthFailure("key revoked")
        if not isinstance(header.get("nonce"), str):
            raise AuthFailure("no nonce in the header")
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._keys[kid],  # type: ignore[arg-type]
                algorithms=["ES256", "EdDSA"],
                options={
                    "require": ["sub", "iss", "nbf", "exp"],
                    "verify_exp": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise AuthFailure(f"invalid token: {error}") from None
        now = self._now()
        nbf, exp = claims["nbf"], claims["exp"]
        if not isinstance(nbf, int | float) or not isinstance(exp, int | float):
            raise AuthFailure("nbf/exp are not numbers")
        if now + LEEWAY < nbf:
            raise AuthFailure("token not yet valid")
        if now - LEEWAY >= exp:
            raise AuthFailure("token expired")
        if claims.get("iss") != "cdp" or claims.get("sub") != kid:
            raise AuthFailure("iss must be 'cdp' and sub must equal kid")
        return claims
