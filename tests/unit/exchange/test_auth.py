"""CDP keys in every form the portal gives them, JWTs as Coinbase checks them, no leaks."""

from __future__ import annotations

import base64
import json
import os
import pickle
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from cjt_actors.errors import CredentialsError
from cjt_actors.exchange.auth import JWT_LIFETIME, Credentials, rest_uri

KEY_NAME = "organizations/11111111-2222-3333-4444-555555555555/apiKeys/66666666-7777"
NOW = 1_767_225_600.0  # fixed: tokens in these tests never depend on the wall clock


def ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # SEC1, as the portal gives it
        serialization.NoEncryption(),
    ).decode()


def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def ed_pem(key: ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def ed_seed(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def decode(token: str, credentials: Credentials) -> tuple[dict[str, object], dict[str, object]]:
    """Verify a token as the exchange (or the simulator) would; return header and claims."""
    claims = jwt.decode(
        token,
        credentials.public_key_pem(),
        algorithms=[credentials.algorithm],
        options={"verify_exp": False, "verify_nbf": False},
    )
    return jwt.get_unverified_header(token), claims


# -- key forms ------------------------------------------------------------------------------


def test_an_ec_pem_key_signs_es256() -> None:
    """EC P-256 keys (the portal's classic download) sign ES256 tokens."""
    credentials = Credentials.from_values(KEY_NAME, ec_pem())
    assert credentials.algorithm == "ES256"
    header, claims = decode(credentials.ws_jwt(now=lambda: NOW), credentials)
    assert header["alg"] == "ES256"
    assert claims["sub"] == KEY_NAME


def test_literal_backslash_n_in_a_pem_is_accepted() -> None:
    """Keys stored in .env files or JSON strings often carry literal backslash-n sequences."""
    escaped = ec_pem().replace("\n", "\\n")
    assert "\n" not in escaped
    credentials = Credentials.from_values(KEY_NAME, escaped)
    assert credentials.algorithm == "ES256"


@pytest.mark.parametrize("form", ["pem", "seed32", "seed64"])
def test_ed25519_keys_in_each_portal_form_sign_eddsa(form: str) -> None:
    """Ed25519 (the portal's recommended type) arrives as PEM or as a base64 seed."""
    key = ed_key()
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    secret = {
        "pem": ed_pem(key),
        "seed32": base64.b64encode(ed_seed(key)).decode(),
        "seed64": base64.b64encode(ed_seed(key) + public).decode(),
    }[form]
    credentials = Credentials.from_values(KEY_NAME, secret)
    assert credentials.algorithm == "EdDSA"
    token = credentials.ws_jwt(now=lambda: NOW)
    # verified with the key the test made: the same key was loaded
    jwt.decode(
        token,
        key.public_key(),
        algorithms=["EdDSA"],
        options={"verify_exp": False, "verify_nbf": False},
    )


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("not base64 at all!", "neither PEM nor base64"),
        (base64.b64encode(b"x" * 16).decode(), "32 or 64 bytes, got 16"),
        (
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----",
            "could not be parsed",
        ),
    ],
)
def test_malformed_secrets_are_refused_clearly(secret: str, message: str) -> None:
    """A bad key fails at load time with a reason, never later with a signing error."""
    with pytest.raises(CredentialsError, match=message):
        Credentials.from_values(KEY_NAME, secret)


def test_unsupported_key_types_and_curves_are_refused() -> None:
    """RSA keys and other curves cannot sign what Coinbase verifies."""
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(CredentialsError, match="unsupported private key type"):
        Credentials.from_values(KEY_NAME, rsa_pem)
    with pytest.raises(CredentialsError, match="P-256"):
        Credentials(KEY_NAME, ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(CredentialsError, match="unsupported private key type"):
        Credentials(KEY_NAME, object())  # type: ignore[arg-type]
    with pytest.raises(CredentialsError, match="key name is empty"):
        Credentials.from_values("  ", ec_pem())


# -- claims ---------------------------------------------------------------------------------


def test_a_rest_token_carries_exactly_the_claims_coinbase_checks() -> None:
    """kid/nonce header, sub/iss/nbf/exp/uri claims; uri without scheme or query string."""
    credentials = Credentials.from_values(KEY_NAME, ec_pem())
    token = credentials.rest_jwt(
        "get",
        "api.coinbase.com",
        "/api/v3/brokerage/orders/historical/batch?limit=5",
        now=lambda: NOW,
    )
    header, claims = decode(token, credentials)
    assert header["kid"] == KEY_NAME
    assert header["typ"] == "JWT"
    assert isinstance(header["nonce"], str)
    assert len(header["nonce"]) == 64
    int(str(header["nonce"]), 16)
    assert claims == {
        "sub": KEY_NAME,
        "iss": "cdp",
        "nbf": int(NOW),
        "exp": int(NOW) + JWT_LIFETIME,
        "uri": "GET api.coinbase.com/api/v3/brokerage/orders/historical/batch",
    }


def test_a_websocket_token_has_no_uri_claim() -> None:
    """WebSocket JWTs are not bound to a request (Coinbase docs)."""
    credentials = Credentials.from_values(KEY_NAME, ec_pem())
    _, claims = decode(credentials.ws_jwt(now=lambda: NOW), credentials)
    assert "uri" not in claims
    assert claims["exp"] == int(NOW) + 120


def test_every_token_is_fresh() -> None:
    """A new nonce per token: the exchange rejects replays."""
    credentials = Credentials.from_values(KEY_NAME, ec_pem())
    nonces = {
        jwt.get_unverified_header(credentials.ws_jwt(now=lambda: NOW))["nonce"] for _ in range(5)
    }
    assert len(nonces) == 5


def test_rest_uri_keeps_the_port_and_drops_the_query() -> None:
    """The simulator on 127.0.0.1:PORT verifies the uri with the port, as the SDK builds it."""
    assert rest_uri("post", "127.0.0.1:18080", "/api/v3/brokerage/orders") == (
        "POST 127.0.0.1:18080/api/v3/brokerage/orders"
    )
    assert rest_uri("GET", "h", "/p?a=1&b=2") == "GET h/p"


def test_our_tokens_verify_the_same_way_as_the_official_sdks() -> None:
    """Whatever verifies the SDK's tokens verifies ours: same header and claim names."""
    from coinbase import jwt_generator

    secret = ec_pem()
    ours = Credentials.from_values(KEY_NAME, secret)
    sdk_token = jwt_generator.build_rest_jwt(
        "GET api.coinbase.com/api/v3/brokerage/accounts", KEY_NAME, secret
    )
    our_token = ours.rest_jwt("GET", "api.coinbase.com", "/api/v3/brokerage/accounts")
    sdk_header, sdk_claims = decode(sdk_token, ours)
    our_header, our_claims = decode(our_token, ours)
    assert sorted(sdk_header) == sorted(our_header)
    assert sorted(sdk_claims) == sorted(our_claims)
    assert sdk_claims["uri"] == our_claims["uri"]


# -- where keys come from --------------------------------------------------------------------


def write_key_file(path: Path, document: object, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    os.chmod(path, mode)
    return path


def test_the_portal_key_file_is_loaded(tmp_path: Path) -> None:
    """The JSON file the CDP portal downloads, with `name` (or `id`) and `privateKey`."""
    secret = ec_pem()
    by_name = write_key_file(tmp_path / "a.json", {"name": KEY_NAME, "privateKey": secret})
    by_id = write_key_file(tmp_path / "b.json", {"id": KEY_NAME, "privateKey": secret})
    assert Credentials.from_file(by_name).matches(KEY_NAME)
    assert Credentials.from_file(by_id).matches(KEY_NAME)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_a_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    """As ssh does: a private key others can read is already compromised."""
    path = write_key_file(tmp_path / "key.json", {"name": KEY_NAME, "privateKey": ec_pem()}, mode)
    with pytest.raises(CredentialsError, match=r"accessible by group or others .*chmod 600"):
        Credentials.from_file(path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", r"not valid JSON \(line 1, column 2\)"),
        ("[1, 2]", "expected a JSON object"),
        ({"privateKey": "x"}, "no string field 'name'"),
        ({"name": KEY_NAME}, "no string field 'privateKey'"),
        (
            {"name": KEY_NAME, "privateKey": "!!!"},
            "privateKey: the private key is neither PEM nor base64",
        ),
    ],
)
def test_bad_key_files_say_what_is_wrong(tmp_path: Path, document: object, message: str) -> None:
    """Say what was wrong and where; the file's own text is never quoted."""
    path = write_key_file(tmp_path / "key.json", document)
    with pytest.raises(CredentialsError, match=message):
        Credentials.from_file(path)


def test_a_missing_key_file_is_reported(tmp_path: Path) -> None:
    """A typo in the path gets the path and the OS reason."""
    with pytest.raises(CredentialsError, match=r"cannot read key file .*nope\.json: No such file"):
        Credentials.from_file(tmp_path / "nope.json")


def test_keys_come_from_the_sdks_environment_variables() -> None:
    """COINBASE_API_KEY / COINBASE_API_SECRET, as the official SDK reads them."""
    secret = ec_pem().replace("\n", "\\n")
    credentials = Credentials.from_env(
        {"COINBASE_API_KEY": KEY_NAME, "COINBASE_API_SECRET": secret}
    )
    assert credentials.matches(KEY_NAME)
    with pytest.raises(CredentialsError, match="not set: COINBASE_API_KEY, COINBASE_API_SECRET"):
        Credentials.from_env({})
    with pytest.raises(CredentialsError, match="COINBASE_API_SECRET: the private key is neither"):
        Credentials.from_env({"COINBASE_API_KEY": KEY_NAME, "COINBASE_API_SECRET": "%%%"})


def test_from_env_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default source is os.environ."""
    monkeypatch.setenv("COINBASE_API_KEY", KEY_NAME)
    monkeypatch.setenv("COINBASE_API_SECRET", ec_pem())
    assert Credentials.from_env().matches(KEY_NAME)


# -- no secret ever leaks --------------------------------------------------------------------


def test_key_material_never_appears_in_reprs_errors_or_pickles(tmp_path: Path) -> None:
    """Secrets never appear in logs, reprs or exceptions (the project's standing rule)."""
    secret = ec_pem()
    credentials = Credentials.from_values(KEY_NAME, secret)
    token = credentials.ws_jwt()
    texts = [repr(credentials), str(credentials), f"{credentials!r}"]
    leaks = [KEY_NAME, "apiKeys", secret.splitlines()[1], token]

    broken_secret = secret.replace("\n", "\n ", 3)[:-40]  # truncated: unparsable
    for attempt in (
        lambda: Credentials.from_values(KEY_NAME, broken_secret),
        lambda: Credentials.from_file(
            write_key_file(tmp_path / "k.json", {"name": KEY_NAME, "privateKey": secret}, 0o644)
        ),
        lambda: Credentials.from_file(
            write_key_file(
                tmp_path / "j.json", '{"name": "' + KEY_NAME + '", "privateKey": ', 0o600
            )
        ),
    ):
        with pytest.raises(CredentialsError) as raised:
            attempt()
        texts.append(str(raised.value))
        texts.append(repr(raised.value))
        assert raised.value.__cause__ is None
        assert raised.value.__context__ is None or raised.value.__suppress_context__
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(credentials)
    for text in texts:
        for leak in leaks:
            assert leak not in text
    assert credentials.fingerprint in repr(credentials)
    assert len(credentials.fingerprint) == 8
