"""Client authentication beyond shared secrets, end to end against the sandbox and OpenBao.

``private_key_jwt`` (RFC 7523 §2.2), the JWT bearer grant (RFC 7523 §2.1) and
``tls_client_auth`` (RFC 8705): Switchboard's real ``Refresher`` acquires and refreshes, the
token lands in Vault, and the sandbox verifies every signature, audience, lifetime, ``jti`` and
certificate for real. The negative tests are what the sandbox must refuse.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from authlib.oauth2.rfc7523 import JWTBearerGrant, private_key_jwt_sign
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from helpers import ping, stored_token
from joserfc import jwk
from pydantic import SecretStr

from sandbox.servers import ManagedProcess
from switchboard._exceptions import ClientRejected, ConfigurationError
from switchboard._models import ClientDefinition
from switchboard._settings import TokenSettings
from switchboard.oauth2 import TokenEndpoint
from switchboard.oauth2._tls import TLSTransports, load_key_and_chain
from switchboard.refresh import Refresher
from switchboard.vault import CredentialStore

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# -- keys, certificates and sandbox clients ----------------------------------------------------


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def new_key(kind: str = "RSA") -> tuple[str, dict[str, Any]]:
    """A private key PEM and its public JWK (``kid`` "k1")."""
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "RSA"
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = _pem(key)
    public = jwk.import_key(pem, "RSA" if kind == "RSA" else "EC").as_dict(private=False)
    return pem, {**public, "kid": "k1"}


@pytest.fixture(scope="module")
def rsa_key() -> tuple[str, dict[str, Any]]:
    return new_key()


def register(sandbox: ManagedProcess, **payload: Any) -> dict[str, str]:
    answer = httpx2.post(f"{sandbox.url}/_control/clients", json=payload, timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def tls_listener(sandbox: ManagedProcess) -> dict[str, str]:
    return dict(httpx2.get(f"{sandbox.url}/_control/tls").raise_for_status().json())


def client_certificate(sandbox: ManagedProcess, common_name: str) -> tuple[str, str, str]:
    """(certificate PEM, key PEM, subject DN): the key stays here, the sandbox's CA signs a CSR."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    issued = httpx2.post(
        f"{sandbox.url}/_control/tls/certificates",
        json={"csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
    ).raise_for_status()
    return issued.json()["certificate"], _pem(key), issued.json()["subject_dn"]


def self_signed(common_name: str) -> tuple[str, str]:
    """A certificate no CA the sandbox trusts has signed, with its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = time.time()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(x509_time(now - 300))
        .not_valid_after(x509_time(now + 3600))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), _pem(key)


def x509_time(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


@pytest.fixture
def refresher(credential_store: CredentialStore, tmp_path: Path) -> Refresher:
    return Refresher(credential_store, TokenSettings(journal_dir=tmp_path / "journal"))


def private_key_jwt_client(
    sandbox: ManagedProcess, public: dict[str, Any], **definition: Any
) -> ClientDefinition:
    client = register(
        sandbox, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]}
    )
    return ClientDefinition.model_validate(
        {
            "token_url": f"{sandbox.url}/oauth/token",
            "client_id": client["client_id"],
            "auth_method": "private_key_jwt",
            "private_key_id": "k1",
            **definition,
        }
    )


def jwt_bearer_client(
    sandbox: ManagedProcess, public: dict[str, Any], **definition: Any
) -> ClientDefinition:
    client = register(
        sandbox, grant_types=[JWT_BEARER], jwks={"keys": [public]}, subjects=["svc@example.test"]
    )
    return ClientDefinition.model_validate(
        {
            "token_url": f"{sandbox.url}/oauth/token",
            "client_id": client["client_id"],
            "grant": "jwt_bearer",
            "subject": "svc@example.test",
            **definition,
        }
    )


def tls_client(
    sandbox: ManagedProcess, grant: str = "client_credentials", **definition: Any
) -> tuple[ClientDefinition, dict[str, str]]:
    listener = tls_listener(sandbox)
    cert, key, dn = client_certificate(sandbox, "switchboard-test")
    client = register(
        sandbox,
        grant_types=[grant],
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn=dn,
    )
    fields = {
        "token_url": f"{listener['url']}/oauth/token",
        "client_id": client["client_id"],
        "grant": grant,
        "auth_method": "tls_client_auth",
        "tls_client_cert": cert,
        "tls_client_key": key,
        "tls_ca_cert": listener["ca_cert"],
        **definition,
    }
    return ClientDefinition.model_validate(fields), client


def acquire_and_refresh(refresher: Refresher, sandbox: ManagedProcess, name: str) -> None:
    """The first token, then a forced refresh: both stored in Vault and accepted by the API."""
    first = refresher.refresh(name)
    assert (first.status, first.state) == ("refreshed", "healthy"), first.message
    token = stored_token(refresher.store, name)
    assert ping(sandbox, token.access_token) == 200
    second = refresher.refresh(name, force=True)
    assert (second.status, second.state) == ("refreshed", "healthy"), second.message
    renewed = stored_token(refresher.store, name)
    assert not renewed.same_access_token(token)
    assert ping(sandbox, renewed.access_token) == 200


# -- each method, end to end ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["RSA", "EC"])
def test_private_key_jwt_end_to_end(
    sandbox: ManagedProcess, refresher: Refresher, unique_name: str, kind: str
) -> None:
    pem, public = new_key(kind)
    definition = private_key_jwt_client(sandbox, public, private_key=pem)
    assert definition.signing_alg == ("RS256" if kind == "RSA" else "ES256")
    refresher.store.put_client(unique_name, definition)
    stored = refresher.store.read_client(unique_name)
    assert stored.private_key is not None and stored.private_key.get_secret_value() == pem
    acquire_and_refresh(refresher, sandbox, unique_name)


def test_jwt_bearer_grant_end_to_end(
    sandbox: ManagedProcess,
    refresher: Refresher,
    unique_name: str,
    rsa_key: tuple[str, dict[str, Any]],
) -> None:
    pem, public = rsa_key
    definition = jwt_bearer_client(sandbox, public, private_key=pem, private_key_id="k1")
    assert definition.auth_method == "none" and definition.client_secrets == ()
    refresher.store.put_client(unique_name, definition)
    acquire_and_refresh(refresher, sandbox, unique_name)
    assert refresher.store.read_refresh(unique_name).record is None  # nothing to rotate


@pytest.mark.parametrize("grant", ["client_credentials", "refresh_token"])
def test_tls_client_auth_end_to_end(
    sandbox: ManagedProcess, refresher: Refresher, unique_name: str, grant: str
) -> None:
    definition, client = tls_client(sandbox, grant)
    refresher.store.put_client(unique_name, definition)
    if grant == "refresh_token":
        refresher.store.put_seed(unique_name, SecretStr(client["refresh_token"]))
    acquire_and_refresh(refresher, sandbox, unique_name)
    assert not list(Path(tempfile.gettempdir()).glob("switchboard-tls-*"))  # key file removed


# -- the TLS key in memory only, and one transport per certificate in use ----------------------


@pytest.fixture
def key_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Path, list[tuple[str, list[str]]]]:
    """``$TMPDIR`` pointed at an empty directory, and each ``load_cert_chain`` call recorded:
    the path it read, and what that directory held at that moment."""
    empty = tmp_path / "tmpdir"
    empty.mkdir()
    monkeypatch.setenv("TMPDIR", str(empty))
    monkeypatch.setattr(tempfile, "tempdir", str(empty))
    seen: list[tuple[str, list[str]]] = []
    original = ssl.SSLContext.load_cert_chain

    def spy(context: ssl.SSLContext, certfile: Any, *args: Any, **kwargs: Any) -> None:
        seen.append((str(certfile), sorted(str(path) for path in empty.rglob("*"))))
        original(context, certfile, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    return empty, seen


def test_tls_key_never_written_under_tmpdir(
    sandbox: ManagedProcess, key_loads: tuple[Path, list[tuple[str, list[str]]]]
) -> None:
    """A kill while ``ssl`` reads the key must leave nothing behind: it is read from memory."""
    empty, seen = key_loads
    definition, _ = tls_client(sandbox)
    endpoint = TokenEndpoint()
    try:
        assert endpoint.request_token(definition).raw["access_token"]
    finally:
        endpoint.close()
    assert len(seen) == 1
    path, listing = seen[0]
    assert listing == [] and not path.startswith(str(empty))
    assert path.startswith("/proc/self/fd/")
    assert list(empty.iterdir()) == []


def test_tls_key_falls_back_to_a_private_temp_file_without_memfd(
    monkeypatch: pytest.MonkeyPatch, key_loads: tuple[Path, list[tuple[str, list[str]]]]
) -> None:
    empty, seen = key_loads
    monkeypatch.delattr(os, "memfd_create")
    cert, key = self_signed("switchboard-test")
    load_key_and_chain(ssl.create_default_context(), cert, SecretStr(key))
    path, listing = seen[0]
    assert path.startswith(str(empty)) and path in listing
    assert list(empty.iterdir()) == []  # removed once loaded


def mtls_definition(client_id: str, cert: str, key: str) -> ClientDefinition:
    return ClientDefinition.model_validate(
        {
            "token_url": "https://idp.example.test/token",
            "client_id": client_id,
            "auth_method": "tls_client_auth",
            "tls_client_cert": cert,
            "tls_client_key": key,
        }
    )


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[httpx2.HTTPTransport]:
    """Every transport closed, in order."""
    seen: list[httpx2.HTTPTransport] = []
    original = httpx2.HTTPTransport.close

    def close(transport: httpx2.HTTPTransport) -> None:
        seen.append(transport)
        original(transport)

    monkeypatch.setattr(httpx2.HTTPTransport, "close", close)
    return seen


def test_a_rotated_certificate_closes_the_old_transport_after_its_last_request(
    closed: list[httpx2.HTTPTransport],
) -> None:
    transports = TLSTransports()
    old = mtls_definition("c", *self_signed("switchboard-test"))
    new = mtls_definition("c", *self_signed("switchboard-test"))
    with transports.lease(old) as first:
        with transports.lease(old) as again:
            assert again is first
        with transports.lease(new) as second:
            assert second is not first and transports.kept() == 1
            assert closed == []  # a request on the old one is still in flight
        assert closed == []
    assert closed == [first]
    with transports.lease(new) as third:
        assert third is second
    transports.close()
    assert closed == [first, second]


def test_a_ca_shared_by_two_clients_stays_until_neither_uses_it(
    closed: list[httpx2.HTTPTransport], sandbox: ManagedProcess
) -> None:
    ca = tls_listener(sandbox)["ca_cert"]
    other_ca, _ = self_signed("another CA")

    def definition(client_id: str, tls_ca_cert: str) -> ClientDefinition:
        return ClientDefinition.model_validate(
            {
                "token_url": "https://idp.example.test/token",
                "client_id": client_id,
                "client_secret": "s",
                "tls_ca_cert": tls_ca_cert,
            }
        )

    transports = TLSTransports()
    for client_id in ("a", "b"):
        with transports.lease(definition(client_id, ca)) as shared:
            pass
    with transports.lease(definition("a", other_ca)):
        pass
    assert transports.kept() == 2 and closed == []  # "b" still trusts the first CA
    with transports.lease(definition("b", other_ca)):
        pass
    assert transports.kept() == 1 and closed == [shared]
    transports.close()


def test_tls_transports_keep_only_the_most_recently_used(
    closed: list[httpx2.HTTPTransport],
) -> None:
    transports = TLSTransports(capacity=2)
    built = []
    for client_id in ("a", "b", "a", "c"):
        with transports.lease(mtls_definition(client_id, *self_signed(client_id))) as transport:
            built.append(transport)
    # "a" was rotated (its first transport closed), then "b" was the least recently used
    assert transports.kept() == 2 and closed == [built[0], built[1]]
    transports.close()


def test_a_rotated_client_certificate_end_to_end(sandbox: ManagedProcess) -> None:
    """The same subject DN on a new key: the new certificate is presented, the old one let go."""
    definition, _ = tls_client(sandbox)
    cert, key, _ = client_certificate(sandbox, "switchboard-test")
    rotated = definition.model_copy(
        update={"tls_client_cert": cert, "tls_client_key": SecretStr(key)}
    )
    endpoint = TokenEndpoint()
    try:
        assert endpoint.request_token(definition).raw["access_token"]
        assert endpoint.request_token(rotated).raw["access_token"]
        assert endpoint._tls.kept() == 1
    finally:
        endpoint.close()


# -- a key or certificate is one proof: asked once, and no secret beside it ---------------------


def token_errors(sandbox: ManagedProcess) -> int:
    counters = httpx2.get(f"{sandbox.url}/_control/counters").raise_for_status().json()
    return int(counters["token"]["errors"])


@pytest.mark.parametrize("method", ["private_key_jwt", "tls_client_auth"])
def test_a_refused_key_or_certificate_is_asked_once_whatever_secrets_linger(
    sandbox: ManagedProcess, rsa_key: tuple[str, dict[str, Any]], method: str
) -> None:
    """Secrets are rotated one after the other on ``invalid_client``; a key is not a secret."""
    if method == "private_key_jwt":
        refused_definition = private_key_jwt_client(sandbox, rsa_key[1], private_key=new_key()[0])
    else:
        cert, key, _ = client_certificate(sandbox, "not-the-registered-one")
        refused_definition, _ = tls_client(sandbox, tls_client_cert=cert, tls_client_key=key)
    # what validation now refuses, as a definition built in code may still carry it
    lingering = refused_definition.model_copy(
        update={"client_secrets": (SecretStr("old-1"), SecretStr("old-2"), SecretStr("old-3"))}
    )
    endpoint = TokenEndpoint()
    before = token_errors(sandbox)
    try:
        with pytest.raises(ClientRejected, match="invalid_client"):
            endpoint.request_token(lingering)
    finally:
        endpoint.close()
    assert token_errors(sandbox) - before == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_method": "private_key_jwt"},
        {"grant": "jwt_bearer"},
        {"auth_method": "tls_client_auth"},
    ],
)
def test_a_key_based_definition_with_a_client_secret_is_refused(
    rsa_key: tuple[str, dict[str, Any]], sandbox: ManagedProcess, fields: dict[str, Any]
) -> None:
    cert, key, _ = client_certificate(sandbox, "switchboard-test")
    data = {
        "token_url": "https://idp.example.test/token",
        "client_id": "c",
        "private_key": rsa_key[0],
        "tls_client_cert": cert,
        "tls_client_key": key,
        **fields,
    }
    for secrets in ({"client_secret": "sbx-lingering"}, {"client_secrets": ["sbx-lingering"]}):
        with pytest.raises(ConfigurationError) as caught:
            ClientDefinition.from_vault({**data, **secrets}, path="p")
        message = str(caught.value)
        assert "field `client_secrets`" in message and "remove both" in message
        assert "sbx-lingering" not in message
    ClientDefinition.from_vault(data, path="p")  # without it, fine


# -- what the sandbox must refuse, seen through the Refresher -----------------------------------


def refused(refresher: Refresher, name: str, definition: ClientDefinition) -> str:
    """Store ``definition``, refresh: it fails as ``misconfigured`` (no retry storm, no
    "write a new seed"); the message it leaves."""
    refresher.store.put_client(name, definition)
    outcome = refresher.refresh(name)
    assert (outcome.status, outcome.state) == ("failed", "misconfigured"), outcome
    assert outcome.error_class == "ClientRejected"
    assert refresher.store.read_token(name).token is None
    return str(outcome.message)


def test_private_key_jwt_with_a_key_the_provider_does_not_know(
    sandbox: ManagedProcess, refresher: Refresher, unique_name: str
) -> None:
    _, registered = new_key()
    other, _ = new_key()
    message = refused(
        refresher, unique_name, private_key_jwt_client(sandbox, registered, private_key=other)
    )
    assert "invalid_client" in message


def test_private_key_jwt_for_another_audience(
    sandbox: ManagedProcess,
    refresher: Refresher,
    unique_name: str,
    rsa_key: tuple[str, dict[str, Any]],
) -> None:
    pem, public = rsa_key
    elsewhere = private_key_jwt_client(
        sandbox, public, private_key=pem, assertion_audience="https://idp.example.test/token"
    )
    assert "invalid_client" in refused(refresher, unique_name, elsewhere)


def test_jwt_bearer_refusals_are_configuration_not_revocation(
    sandbox: ManagedProcess,
    refresher: Refresher,
    unique_name: str,
    rsa_key: tuple[str, dict[str, Any]],
) -> None:
    pem, public = rsa_key
    other, _ = new_key()
    for index, changes in enumerate(
        (
            {"private_key": other},
            {"private_key": pem, "assertion_audience": f"{sandbox.url}/other/token"},
            {"private_key": pem, "subject": "someone-else@example.test"},
        )
    ):
        message = refused(
            refresher, f"{unique_name}-{index}", jwt_bearer_client(sandbox, public, **changes)
        )
        assert "invalid_grant" in message and "assertion" in message and "seed" not in message


def test_tls_client_auth_with_another_subject(
    sandbox: ManagedProcess, refresher: Refresher, unique_name: str
) -> None:
    cert, key, _ = client_certificate(sandbox, "not-the-registered-one")
    definition, _ = tls_client(sandbox, tls_client_cert=cert, tls_client_key=key)
    assert "invalid_client" in refused(refresher, unique_name, definition)


def test_tls_client_auth_with_a_certificate_from_another_ca(
    sandbox: ManagedProcess, credential_store: CredentialStore, unique_name: str, tmp_path: Path
) -> None:
    """The handshake refuses it. Python's TLS server then closes without an alert, which a
    client cannot tell from a dropped connection: transient, with a hint to check the cert."""
    cert, key = self_signed("switchboard-test")
    definition, _ = tls_client(sandbox, tls_client_cert=cert, tls_client_key=key)
    credential_store.put_client(unique_name, definition)
    settings = TokenSettings(journal_dir=tmp_path / "journal", max_attempts=1)
    outcome = Refresher(credential_store, settings).refresh(unique_name)
    assert (outcome.status, outcome.error_class) == ("failed", "TransientTokenError")
    assert "client certificate" in str(outcome.message)
    assert credential_store.read_token(unique_name).token is None


def test_tls_endpoint_not_trusted_without_its_ca(
    sandbox: ManagedProcess, refresher: Refresher, unique_name: str
) -> None:
    definition, _ = tls_client(sandbox)
    untrusted = definition.model_copy(update={"tls_ca_cert": None})
    assert "not trusted" in refused(refresher, unique_name, untrusted)


def test_tls_listener_requires_a_client_certificate(sandbox: ManagedProcess) -> None:
    listener = tls_listener(sandbox)
    definition, client = tls_client(sandbox)
    import ssl

    trusting = ssl.create_default_context(cadata=listener["ca_cert"])
    with pytest.raises(httpx2.TransportError), httpx2.Client(verify=trusting) as http:
        http.post(definition.token_url, data={"grant_type": "client_credentials", **client})
    # the same client over plain HTTP presents no certificate at all
    plain = httpx2.post(
        f"{sandbox.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client["client_id"]},
    )
    assert plain.status_code == 401 and plain.json()["error"] == "invalid_client"


# -- crafted assertions: what a Switchboard client never sends, refused all the same ------------


def post_client_assertion(sandbox: ManagedProcess, assertion: str) -> httpx2.Response:
    return httpx2.post(
        f"{sandbox.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def post_grant_assertion(sandbox: ManagedProcess, assertion: str) -> httpx2.Response:
    return httpx2.post(
        f"{sandbox.url}/oauth/token", data={"grant_type": JWT_BEARER, "assertion": assertion}
    )


def test_sandbox_refuses_replayed_expired_and_long_lived_client_assertions(
    sandbox: ManagedProcess, rsa_key: tuple[str, dict[str, Any]]
) -> None:
    pem, public = rsa_key
    key = jwk.import_key(pem, "RSA")
    client_id = register(
        sandbox, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]}
    )["client_id"]
    audience = f"{sandbox.url}/oauth/token"

    def sign(**options: Any) -> str:
        return str(private_key_jwt_sign(key, client_id, audience, header={"kid": "k1"}, **options))

    fresh = sign(expires_in=120)
    assert post_client_assertion(sandbox, fresh).status_code == 200
    now = int(time.time())
    for assertion in (
        fresh,  # the same jti again
        sign(issued_at=now - 400, expires_at=now - 200),  # expired
        sign(expires_in=3600),  # valid for an hour: more than 3 minutes
        sign(issued_at=now + 600, expires_in=120),  # issued in the future
        _unsigned({"iss": client_id, "sub": client_id, "aud": audience, "exp": now + 60}),
    ):
        answer = post_client_assertion(sandbox, assertion)
        assert answer.status_code in (400, 401) and answer.json()["error"] == "invalid_client"


def test_sandbox_refuses_replayed_and_expired_grant_assertions(
    sandbox: ManagedProcess, rsa_key: tuple[str, dict[str, Any]]
) -> None:
    pem, public = rsa_key
    key = jwk.import_key(pem, "RSA")
    client_id = register(
        sandbox, grant_types=[JWT_BEARER], jwks={"keys": [public]}, subjects=["svc@example.test"]
    )["client_id"]
    audience = f"{sandbox.url}/oauth/token"

    def sign(**options: Any) -> str:
        return str(
            JWTBearerGrant.sign(
                key, client_id, audience, "svc@example.test", alg="RS256", **options
            )
        )

    fresh = sign(expires_in=120)
    assert post_grant_assertion(sandbox, fresh).status_code == 200
    now = int(time.time())
    for assertion in (
        fresh,
        sign(issued_at=now - 400, expires_at=now - 200),
        sign(expires_in=3600),
        sign(claims={"jti": None}, expires_in=120),
    ):
        answer = post_grant_assertion(sandbox, assertion)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def _unsigned(claims: dict[str, Any]) -> str:
    """An ``alg: none`` JWT (RFC 7519 §6): no provider may accept it."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({**claims, 'jti': 'x', 'iat': claims['exp'] - 60})}."


# -- definitions, and secrets kept out of sight --------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"auth_method": "private_key_jwt"}, "private_key", "missing"),
        (
            {"auth_method": "private_key_jwt", "private_key": "-----BEGIN nonsense"},
            "private_key",
            "PEM",
        ),
        ({"grant": "jwt_bearer"}, "private_key", "missing"),
        ({"grant": "jwt_bearer", "auth_method": "client_secret_basic"}, "auth_method", "assertion"),
        ({"auth_method": "none", "client_secret": "sbx-s"}, "auth_method", "jwt_bearer"),
        ({"auth_method": "tls_client_auth"}, "tls_client_cert", "missing"),
        (
            {"auth_method": "tls_client_auth", "token_url": "http://127.0.0.1/t"},
            "auth_method",
            "https",
        ),
        ({"auth_method": "tls_client_auth", "tls_client_cert": "x"}, "tls_client_cert", "PEM"),
        ({"auth_method": "private_key_jwt", "signing_alg": "ES256"}, "signing_alg", "RS256"),
        ({"client_secrets": ["sbx-new", "PEM"]}, "client_secrets", "private_key"),
    ],
)
def test_definition_errors_name_the_field_and_never_the_key(
    rsa_key: tuple[str, dict[str, Any]], fields: dict[str, Any], field: str, words: str
) -> None:
    pem = rsa_key[0]
    data = {"token_url": "https://idp.example.test/token", "client_id": "c", **fields}
    if field == "signing_alg":
        data["private_key"] = pem
    if data.get("client_secrets") == ["sbx-new", "PEM"]:  # a key piped where secrets go
        data["client_secrets"] = ["sbx-new", pem]
    with pytest.raises(ConfigurationError) as caught:
        ClientDefinition.from_vault(data, path="secret/switchboard/credentials/x/client")
    message = str(caught.value)
    assert f"field `{field}`" in message and words in message
    assert "PRIVATE KEY" not in message and "nonsense" not in message


def test_tls_client_key_must_match_the_certificate(sandbox: ManagedProcess) -> None:
    cert, _, _ = client_certificate(sandbox, "switchboard-test")
    _, other_key, _ = client_certificate(sandbox, "switchboard-test")
    with pytest.raises(ConfigurationError, match="`tls_client_key` is not the key"):
        ClientDefinition.from_vault(
            {
                "token_url": "https://idp.example.test/token",
                "client_id": "c",
                "auth_method": "tls_client_auth",
                "tls_client_cert": cert,
                "tls_client_key": other_key,
            },
            path="p",
        )


def test_no_key_certificate_or_assertion_in_reprs_exceptions_or_logs(
    sandbox: ManagedProcess,
    refresher: Refresher,
    unique_name: str,
    rsa_key: tuple[str, dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    pem, public = rsa_key
    other, _ = new_key()
    good = private_key_jwt_client(sandbox, public, private_key=pem)
    wrong_key = private_key_jwt_client(sandbox, public, private_key=other)
    bearer = jwt_bearer_client(sandbox, public, private_key=pem)
    mtls, _ = tls_client(sandbox)
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    for index, definition in enumerate((good, wrong_key, bearer, mtls)):
        name = f"{unique_name}-{index}"
        refresher.store.put_client(name, definition)
        outcome = refresher.refresh(name)
        shown += [repr(definition), str(definition), repr(outcome), str(outcome.message)]
        shown.append(repr(refresher.store.read_client(name)))
    endpoint = TokenEndpoint()
    try:
        with pytest.raises(ClientRejected) as caught:
            endpoint.request_token(wrong_key)
        shown += [str(caught.value), repr(caught.value)]
        shown.append(repr(endpoint.request_token(good)))
    finally:
        endpoint.close()
    shown.append(caplog.text)
    shown.append(Path(sandbox.log_path).read_text(errors="replace"))
    text = "\n".join(shown)
    assert "PRIVATE KEY" not in text and "CERTIFICATE" not in text
    for secret in (pem, other, mtls.tls_client_key.get_secret_value()):  # type: ignore[union-attr]
        body = "".join(secret.splitlines()[1:-1])
        assert body[:40] not in text.replace("\n", "")
    assert "eyJ" not in text  # no JWT: neither an assertion nor its header
