"""JWT verification in the simulator (cjt_actors.sim.auth) and its keys (Simulator keys API).

The simulator must refuse every token the real exchange refuses, or a client that passes
against it fails in production with 401s: a wrong signature, an unknown or revoked key, an
expired or not-yet-valid token, wrong ``iss``/``sub``, and a REST ``uri`` claim that names
another method, host or path. Leeway and the accepted hosts are checked at their edges.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from cjt_actors.errors import InvalidSpec
from cjt_actors.exchange.auth import Credentials
from cjt_actors.sim.auth import LEEWAY, AuthFailure, JwtVerifier, RegisteredKey
from cjt_actors.sim.market import MAKER, TAKER
from cjt_actors.sim.simulator import DEFAULT_USER, Simulator, SimulatorConfig

NOW = 1_700_000_000.0
HOST = "127.0.0.1:8443"
PATH = "/api/v3/brokerage/accounts"
NAME = "organizations/org/apiKeys/key-1"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _public_pem(private: PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def _verifier(now: float = NOW, hosts: tuple[str, ...] = (HOST, "api.coinbase.com")) -> JwtVerifier:
    return JwtVerifier(
        [
            RegisteredKey(name=NAME, public_key_pem=_public_pem(EC_KEY)),
            RegisteredKey(name="ed-key", public_key_pem=_public_pem(ED_KEY)),
        ],
        hosts=hosts,
        now=lambda: now,
    )


def _token(
    *,
    key: PrivateKey = EC_KEY,
    kid: Any = NAME,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    nonce: Any = "abc123",
    uri: str | None = f"GET {HOST}{PATH}",
) -> str:
    """A token with the SDK's claims, any of them overridden or dropped."""
    body: dict[str, Any] = {
        "sub": kid or NAME,
        "iss": "cdp",
        "nbf": int(NOW),
        "exp": int(NOW) + 120,
    }
    if uri is not None:
        body["uri"] = uri
    body.update(claims or {})
    for name in drop:
        body.pop(name, None)
    headers: dict[str, Any] = {"kid": kid} if kid is not None else {}
    if nonce is not None:
        headers["nonce"] = nonce
    algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def _bearer(token: str) -> str:
    return f"Bearer {token}"


# -- what is accepted --------------------------------------------------------------------------


def test_a_token_signed_like_the_sdk_is_accepted() -> None:
    """The project's own Credentials sign exactly what the verifier accepts (ES256)."""
    credentials = Credentials(NAME, EC_KEY)
    token = credentials.rest_jwt("GET", HOST, PATH, now=lambda: NOW)
    assert _verifier().verify_rest(_bearer(token), "GET", PATH) == NAME
    assert _verifier().verify_ws(credentials.ws_jwt(now=lambda: NOW)) == NAME


def test_ed25519_keys_are_accepted() -> None:
    """EdDSA is the CDP portal's recommended key type; the simulator verifies it too."""
    token = _token(key=ED_KEY, kid="ed-key")
    assert _verifier().verify_rest(_bearer(token), "GET", PATH) == "ed-key"


@pytest.mark.parametrize("host", [HOST, "api.coinbase.com"])
def test_uri_may_name_the_bound_host_with_its_port_or_coinbase(host: str) -> None:
    """Clients name the host:port they were given, or api.coinbase.com if hard-coded."""
    token = _token(uri=f"POST {host}/api/v3/brokerage/orders")
    assert _verifier().verify_rest(_bearer(token), "POST", "/api/v3/brokerage/orders") == NAME


def test_a_host_added_later_is_accepted() -> None:
    """The server binds a random port after the verifier exists: add_host admits it."""
    verifier = _verifier(hosts=("api.coinbase.com",))
    token = _token()
    with pytest.raises(AuthFailure):
        verifier.verify_rest(_bearer(token), "GET", PATH)
    verifier.add_host(HOST)
    assert verifier.verify_rest(_bearer(token), "GET", PATH) == NAME


def test_the_request_path_is_compared_without_its_query_string() -> None:
    """The uri claim has no query string; a request path that has one still matches."""
    assert _verifier().verify_rest(_bearer(_token()), "GET", PATH + "?limit=1") == NAME


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"nbf": int(NOW) + LEEWAY}, True),
        ({"nbf": int(NOW) + LEEWAY + 1}, False),
        ({"exp": int(NOW) - LEEWAY + 1}, True),
        ({"exp": int(NOW) - LEEWAY}, False),
        ({"nbf": NOW + 0.5, "exp": NOW + 120.5}, True),
    ],
    ids=["nbf at leeway", "nbf past leeway", "exp within leeway", "exp at leeway", "floats"],
)
def test_clock_skew_is_tolerated_up_to_the_leeway(claims: dict[str, Any], accepted: bool) -> None:
    """A client clock a few seconds off still works; beyond the leeway it does not."""
    token = _token(claims=claims)
    if accepted:
        assert _verifier().verify_rest(_bearer(token), "GET", PATH) == NAME
    else:
        with pytest.raises(AuthFailure, match=r"not yet valid|expired"):
            _verifier().verify_rest(_bearer(token), "GET", PATH)


def test_leeway_is_five_seconds() -> None:
    """The documented skew tolerance."""
    assert LEEWAY == 5


# -- what is refused ---------------------------------------------------------------------------


def _signed_by_wrong_key() -> str:
    return _token(key=OTHER_KEY)


REFUSALS: list[tuple[str, Callable[[], str | None], str]] = [
    ("no header", lambda: None, "no bearer token"),
    ("empty header", lambda: "", "no bearer token"),
    ("basic auth", lambda: "Basic dXNlcjpwYXNz", "no bearer token"),
    ("bearer without space", lambda: "Bearer", "no bearer token"),
    ("not a jwt", lambda: _bearer("not-a-token"), "malformed token"),
    ("unknown key", lambda: _bearer(_token(kid="organizations/x/apiKeys/y")), "unknown key"),
    ("no kid", lambda: _bearer(_token(kid=None)), "unknown key"),
    ("no nonce", lambda: _bearer(_token(nonce=None)), "no nonce in the header"),
    ("numeric nonce", lambda: _bearer(_token(nonce=12)), "no nonce in the header"),
    ("wrong signature", lambda: _bearer(_signed_by_wrong_key()), "invalid token"),
    ("no exp", lambda: _bearer(_token(drop=("exp",))), "invalid token"),
    ("no iss", lambda: _bearer(_token(drop=("iss",))), "invalid token"),
    ("nbf not a number", lambda: _bearer(_token(claims={"nbf": "now"})), "not numbers"),
    ("exp not a number", lambda: _bearer(_token(claims={"exp": [1]})), "not numbers"),
    ("not yet valid", lambda: _bearer(_token(claims={"nbf": NOW + 60})), "not yet valid"),
    ("expired", lambda: _bearer(_token(claims={"exp": NOW - 60})), "expired"),
    ("old iss", lambda: _bearer(_token(claims={"iss": "coinbase-cloud"})), "iss must be 'cdp'"),
    ("sub is another key", lambda: _bearer(_token(claims={"sub": "ed-key"})), "sub must equal"),
    ("no uri", lambda: _bearer(_token(uri=None)), "without a uri claim"),
    ("uri not a string", lambda: _bearer(_token(claims={"uri": 5})), "without a uri claim"),
    ("other method", lambda: _bearer(_token(uri=f"POST {HOST}{PATH}")), "does not match"),
    ("other host", lambda: _bearer(_token(uri=f"GET 127.0.0.1:1{PATH}")), "does not match"),
    ("host without port", lambda: _bearer(_token(uri=f"GET 127.0.0.1{PATH}")), "does not match"),
    (
        "other path",
        lambda: _bearer(_token(uri=f"GET {HOST}/api/v3/brokerage/orders")),
        "does not match",
    ),
    ("scheme in uri", lambda: _bearer(_token(uri=f"GET https://{HOST}{PATH}")), "does not match"),
    ("lower-case method", lambda: _bearer(_token(uri=f"get {HOST}{PATH}")), "does not match"),
]


@pytest.mark.parametrize(
    ("make_header", "reason"),
    [(make, reason) for _, make, reason in REFUSALS],
    ids=[name for name, _, _ in REFUSALS],
)
def test_every_bad_rest_token_is_refused_with_its_reason(
    make_header: Callable[[], str | None], reason: str
) -> None:
    """Each thing Coinbase checks is checked, and the simulator's log says which failed."""
    with pytest.raises(AuthFailure) as caught:
        _verifier().verify_rest(make_header(), "GET", PATH)
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


@pytest.mark.parametrize("token", [None, "", 17, {"jwt": "x"}])
def test_a_subscribe_without_a_jwt_string_is_refused(token: object) -> None:
    """The user channel needs a token in the message."""
    with pytest.raises(AuthFailure, match="no jwt in the message"):
        _verifier().verify_ws(token)


def test_websocket_tokens_need_no_uri_but_the_same_signature_checks() -> None:
    """A WS token has no uri claim; a bad WS token is refused like a bad REST one."""
    assert _verifier().verify_ws(_token(uri=None)) == NAME
    with pytest.raises(AuthFailure, match="invalid token"):
        _verifier().verify_ws(_signed_by_wrong_key())


def test_revoked_keys_are_refused_until_restored() -> None:
    """Revocation applies from the next token on; restore re-admits the key."""
    verifier = _verifier()
    verifier.revoke(NAME)
    with pytest.raises(AuthFailure, match="key revoked"):
        verifier.verify_rest(_bearer(_token()), "GET", PATH)
    with pytest.raises(AuthFailure, match="key revoked"):
        verifier.verify_ws(_token(uri=None))
    assert verifier.verify_rest(_bearer(_token(key=ED_KEY, kid="ed-key")), "GET", PATH)
    verifier.restore(NAME)
    verifier.restore("never-revoked")
    assert verifier.verify_rest(_bearer(_token()), "GET", PATH) == NAME


def test_the_clock_is_read_at_verification_time() -> None:
    """A token valid now expires once the injected clock passes exp + leeway."""
    now = [NOW]
    verifier = JwtVerifier(
        [RegisteredKey(name=NAME, public_key_pem=_public_pem(EC_KEY))],
        hosts=[HOST],
        now=lambda: now[0],
    )
    token = _token()
    assert verifier.verify_rest(_bearer(token), "GET", PATH) == NAME
    now[0] = NOW + 120 + LEEWAY
    with pytest.raises(AuthFailure, match="expired"):
        verifier.verify_rest(_bearer(token), "GET", PATH)


def test_a_registered_key_never_shows_its_pem() -> None:
    """Key material stays out of reprs (and so out of logs)."""
    pem = _public_pem(EC_KEY)
    key = RegisteredKey(name=NAME, public_key_pem=pem)
    assert "BEGIN" not in repr(key)
    assert NAME in repr(key)


# -- the simulator's keys ----------------------------------------------------------------------


def test_generated_keys_have_the_cdp_name_form_and_sign_accepted_tokens() -> None:
    """generate_key gives a portal-style key the simulator's verifier accepts for its user."""
    sim = Simulator(SimulatorConfig(seed=42))
    credentials, document = sim.generate_key("bob")
    assert document["name"] == (
        "organizations/00000000-0000-4000-8000-000000000042"
        "/apiKeys/00000000-0000-4000-8000-000000000001"
    )
    assert document["privateKey"].startswith("-----BEGIN EC PRIVATE KEY-----")
    assert credentials.algorithm == "ES256"
    assert sim.user_for_key(document["name"]) == "bob"
    assert "bob" in sim.users
    sim.bind_host(HOST)
    token = credentials.rest_jwt("GET", HOST, PATH)
    assert sim.verifier.verify_rest(_bearer(token), "GET", PATH) == document["name"]
    _, second = sim.generate_key()
    assert second["name"].endswith("000000000002")
    assert sim.user_for_key(second["name"]) == DEFAULT_USER


def test_write_key_file_writes_a_private_portal_json(tmp_path: Path) -> None:
    """The key file is mode 0600 and loads with the client's own key loader."""
    sim = Simulator()
    path = tmp_path / "key.json"
    written = sim.write_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    document = json.loads(path.read_text())
    assert set(document) == {"name", "privateKey"}
    loaded = Credentials.from_file(path)
    assert loaded.fingerprint == written.fingerprint
    assert sim.user_for_key(document["name"]) == DEFAULT_USER


def test_write_key_file_tightens_an_existing_files_mode(tmp_path: Path) -> None:
    """Overwriting a world-readable file still leaves it 0600."""
    path = tmp_path / "key.json"
    path.write_text("{}")
    path.chmod(0o644)
    Simulator().write_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_unknown_keys_map_to_no_user() -> None:
    """Only registered keys act as a user."""
    assert Simulator().user_for_key("organizations/x/apiKeys/y") is None


@pytest.mark.parametrize("user", [MAKER, TAKER])
def test_the_synthetic_market_users_cannot_be_registered(user: str) -> None:
    """A client must never act as the synthetic maker or taker."""
    with pytest.raises(InvalidSpec, match="reserved"):
        Simulator().add_user(user)


async def test_users_added_after_opening_are_funded_once() -> None:
    """A user added to a running simulator gets the configured balances, exactly once."""
    sim = Simulator(SimulatorConfig(balances={"USD": Decimal("5")}, market_enabled=False))
    sim.open()
    sim.open()  # idempotent
    sim.add_user("carol")
    sim.add_user("carol")
    sim.register_key("k", _public_pem(EC_KEY), "carol")
    balances = {a.currency: a.available for a in sim.engine.accounts("carol")}
    assert balances == {"USD": Decimal("5")}
    assert sim.users == [DEFAULT_USER, "carol"]
