"""CDP API keys and the JWTs Coinbase Advanced Trade wants on every request.

Coinbase authenticates each REST request and each WebSocket (un)subscribe with a short-lived
JWT signed by the user's CDP key: ES256 for an EC P-256 key, EdDSA for an Ed25519 key. This
module loads keys in every form the CDP portal hands them out, and signs tokens with exactly
the claims the official SDK sends (``reference/coinbase-api.md`` §1):

* header ``alg``, ``typ: JWT``, ``kid`` = key name, ``nonce`` = random hex;
* claims ``sub`` = key name, ``iss: cdp``, ``nbf`` = now, ``exp`` = now + 120 s, and for REST
  ``uri`` = ``"<METHOD> <host><path>"`` (no scheme, no query string).

Secrets stay secret: :class:`Credentials` keeps the key name and private key in private
attributes, its ``repr`` shows only the algorithm and a short fingerprint, it refuses to be
pickled, and every error raised while loading a key describes the problem without quoting the
key. A key file readable by group or others is refused, as ssh refuses such a private key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, NoReturn, final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ..errors import CredentialsError

__all__ = ["JWT_LIFETIME", "Algorithm", "Credentials", "rest_uri"]

#: Seconds a token is valid for (Coinbase: two minutes).
JWT_LIFETIME = 120

Algorithm = Literal["ES256", "EdDSA"]

#: Environment variable names, the same as the official SDK's.
ENV_KEY_NAME = "COINBASE_API_KEY"
ENV_KEY_SECRET = "COINBASE_API_SECRET"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def rest_uri(method: str, host: str, path: str) -> str:
    """The ``uri`` claim of a REST token: ``"GET api.coinbase.com/api/v3/brokerage/accounts"``.

    ``host`` is host[:port] as the client was given it; any query string is dropped.
    """
    return f"{method.upper()} {host}{path.split('?', 1)[0]}"


@final
class Credentials:
    """A CDP API key able to sign Coinbase JWTs. Build it with a ``from_*`` constructor.

    Raises (from every constructor):
        CredentialsError: the key is missing, malformed, of an unsupported type, or (for a
            file) readable by others. The message never contains key material.
    """

    __slots__ = ("_algorithm", "_fingerprint", "_key_name", "_private_key")

    def __init__(self, key_name: str, private_key: PrivateKey) -> None:
        if not isinstance(key_name, str) or not key_name.strip():
            raise CredentialsError("the API key name is empty")
        if isinstance(private_key, ed25519.Ed25519PrivateKey):
            algorithm: Algorithm = "EdDSA"
        elif isinstance(private_key, ec.EllipticCurvePrivateKey):
            if not isinstance(private_key.curve, ec.SECP256R1):
                raise CredentialsError(
                    f"the EC key is on curve {private_key.curve.name}; Coinbase keys use P-256"
                )
            algorithm = "ES256"
        else:
            raise CredentialsError(
                f"unsupported private key type {type(private_key).__name__}; "
                "expected EC P-256 (ES256) or Ed25519 (EdDSA)"
            )
        self._key_name = key_name.strip()
        self._private_key = private_key
        self._algorithm = algorithm
        self._fingerprint = hashlib.sha256(self._key_name.encode()).hexdigest()[:8]

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def from_values(cls, key_name: str, secret: str) -> Credentials:
        """From a key name and its secret (PEM, PEM with literal ``\\n``, or base64 seed)."""
        return cls(key_name, _load_private_key(secret))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """From ``COINBASE_API_KEY`` and ``COINBASE_API_SECRET`` (the SDK's names)."""
        env = os.environ if environ is None else environ
        name = env.get(ENV_KEY_NAME, "")
        secret = env.get(ENV_KEY_SECRET, "")
        missing = [
            var for var, value in ((ENV_KEY_NAME, name), (ENV_KEY_SECRET, secret)) if not value
        ]
        if missing:
            raise CredentialsError(f"environment variable(s) not set: {', '.join(missing)}")
        try:
            return cls.from_values(name, secret)
        except CredentialsError as error:
            raise CredentialsError(f"{ENV_KEY_SECRET}: {error}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Credentials:
        """From the key JSON file the CDP portal downloads (``name`` or ``id``, ``privateKey``).

        The file must not be readable or writable by group or others (``chmod 600``).
        """
        file = Path(path)
        try:
            mode = file.stat().st_mode
        except OSError as error:
            raise CredentialsError(f"cannot read key file {file}: {error.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsError(
                f"key file {file} is accessible by group or others "
                f"(mode {stat.filemode(mode)}); run: chmod 600 {file}"
            )
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except OSError as error:
            raise CredentialsError(f"cannot read key file {file}: {error.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            # The parser's message can quote the file's text: name only the position.
            where = (
                f" (line {error.lineno}, column {error.colno})"
                if isinstance(error, json.JSONDecodeError)
                else ""
            )
            raise CredentialsError(f"key file {file} is not valid JSON{where}") from None
        if not isinstance(document, dict):
            raise CredentialsError(f"key file {file}: expected a JSON object")
        name = document.get("name", document.get("id"))
        secret = document.get("privateKey")
        if not isinstance(name, str) or not name:
            raise CredentialsError(f"key file {file}: no string field 'name' (or 'id')")
        if not isinstance(secret, str) or not secret:
            raise CredentialsError(f"key file {file}: no string field 'privateKey'")
        try:
            return cls.from_values(name, secret)
        except CredentialsError as error:
            raise CredentialsError(f"key file {file}: privateKey: {error}") from None

    # -- use ---------------------------------------------------------------------------------

    @property
    def algorithm(self) -> Algorithm:
        return self._algorithm

    @property
    def fingerprint(self) -> str:
        """8 hex digits of the key name's SHA-256: tells keys apart in logs, reveals nothing."""
        return self._fingerprint

    def rest_jwt(
        self, method: str, host: str, path: str, *, now: Callable[[], float] = time.time
    ) -> str:
        """A fresh token for one REST request (``uri`` claim from method, host and path)."""
        return self._sign(now(), uri=rest_uri(method, host, path))

    def ws_jwt(self, *, now: Callable[[], float] = time.time) -> str:
        """A fresh token for one WebSocket subscribe or unsubscribe message (no ``uri``)."""
        return self._sign(now())

    def _sign(self, now: float, uri: str | None = None) -> str:
        issued = int(now)
        claims: dict[str, object] = {
            "sub": self._key_name,
            "iss": "cdp",
            "nbf": issued,
            "exp": issued + JWT_LIFETIME,
        }
        if uri is not None:
            claims["uri"] = uri
        return jwt.encode(
            claims,
            self._private_key,
            algorithm=self._algorithm,
            headers={"kid": self._key_name, "nonce": secrets.token_hex()},
        )

    def public_key_pem(self) -> bytes:
        """The public half, PEM-encoded (what a verifier such as the simulator needs)."""
        return self._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def matches(self, key_name: str) -> bool:
        """Whether ``key_name`` is this key's name (constant-time comparison)."""
        return secrets.compare_digest(key_name.encode(), self._key_name.encode())

    def __repr__(self) -> str:
        return f"<Credentials {self._algorithm} fingerprint={self._fingerprint}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("Credentials cannot be pickled: key material stays in this process")


def _load_private_key(secret: str) -> PrivateKey:
    if not isinstance(secret, str) or not secret.strip():
        raise CredentialsError("the private key is empty")
    text = secret.strip()
    if "\\n" in text:
        # Keys kept in .env files and JSON strings often carry literal backslash-n.
        text = text.replace("\\r\\n", "\n").replace("\\n", "\n")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError, binascii.Error):
            # cryptography's messages do not quote the key, but stay generic on purpose.
            raise CredentialsError(
                "the PEM private key could not be parsed (truncated, encrypted, or mangled "
                "line breaks?)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise CredentialsError(
                f"unsupported private key type {type(key).__name__}; "
                "expected EC P-256 (ES256) or Ed25519 (EdDSA)"
            )
        return key
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialsError("the private key is neither PEM nor base64") from None
    if len(raw) not in (32, 64):
        raise CredentialsError(
            f"a base64 Ed25519 key must decode to 32 or 64 bytes, got {len(raw)}"
        )
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
