"""The sandbox's mutual-TLS listener, for ``tls_client_auth`` (RFC 8705 §2.1).

At start the sandbox makes a throw-away CA and a certificate for loopback signed by it; the
HTTPS listener requires a client certificate chained to that CA (the handshake refuses any
other, or none). Clients get certificates by sending a CSR (``POST /_control/tls/certificates``)
so their keys never leave them, and trust the CA from ``GET /_control/tls``. uvicorn does not
give the application the peer's certificate, so the listener's protocol records each
connection's verified subject DN by its address pair, where the token endpoint looks it up.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr
from uvicorn.protocols.http.h11_impl import H11Protocol

from switchboard.oauth2 import load_key_and_chain

__all__ = ["PeerCertProtocol", "TestCA", "peer_subject_dn"]

_VALIDITY = datetime.timedelta(days=2)

_PEERS: dict[tuple[Any, Any], str] = {}
"""(server address, client address) of each open TLS connection -> its verified subject DN."""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Switchboard sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class TestCA:
    """A CA made for this process only, and the listener's certificate for 127.0.0.1."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name("Switchboard sandbox test CA")
        self.certificate = (
            self._builder(self.name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_pem = _pem(self.certificate)
        self._server_key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        self._server_certificate = (
            self._builder(_name("127.0.0.1"), self._server_key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def _builder(self, subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
        )

    def issue(self, csr_pem: str) -> x509.Certificate:
        """A client certificate for the CSR's key and subject; ``ValueError`` for a bad CSR."""
        try:
            request = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise ValueError("`csr` must be a PEM certificate signing request") from None
        if not request.is_signature_valid:
            raise ValueError("`csr` is not signed by its own key")
        return (
            self._builder(request.subject, request.public_key())
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def server_context(self) -> ssl.SSLContext:
        """TLS for the listener: this CA's clients only, and a certificate is required."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=self.ca_pem)
        context.verify_mode = ssl.CERT_REQUIRED
        key = self._server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        load_key_and_chain(context, _pem(self._server_certificate), SecretStr(key))
        return context


class PeerCertProtocol(H11Protocol):
    """uvicorn's h11 protocol that records the verified client certificate's subject DN."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            _PEERS[(self.server, self.client)] = subject

    def connection_lost(self, exc: Exception | None) -> None:
        _PEERS.pop((self.server, self.client), None)
        super().connection_lost(exc)


def peer_subject_dn(scope: Mapping[str, Any]) -> str | None:
    """The subject DN (RFC 4514) of the certificate the request's TLS connection presented;
    ``None`` for a plain-HTTP request."""
    server, client = scope.get("server"), scope.get("client")
    if scope.get("scheme") != "https" or server is None or client is None:
        return None
    return _PEERS.get((tuple(server), tuple(client)))
