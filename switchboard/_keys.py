"""Check the PEM keys and certificates of a client definition before anything is signed.

A key or certificate that does not parse is an operator's mistake: it is refused when the
definition is read, naming the field, instead of failing inside a TLS handshake or a JWT
signature later. No message here ever quotes the PEM it was given.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["SIGNING_ALGS", "check_certificates", "check_key_pair", "signing_alg_for"]

_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
SIGNING_ALGS = (*_RSA_ALGS, *_EC_ALGS.values())
"""The JWS algorithms a ``private_key`` may sign with (RFC 7518 §3); ``none`` and HMAC never."""

_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _private_key(pem: str, field: str) -> _PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(
            f"`{field}` is not an unencrypted PEM private key (PKCS #8 or PKCS #1)"
        ) from None
    if not isinstance(key, _PrivateKey):
        raise ValueError(f"`{field}` must be an RSA or EC (P-256, P-384, P-521) private key")
    return key


def signing_alg_for(pem: str, requested: str | None) -> str:
    """The JWS ``alg`` to sign with ``pem``: ``requested`` if that key type can make it, else
    the key's usual one (RS256 for RSA, ES256/384/512 by curve for EC)."""
    key = _private_key(pem, "private_key")
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError("`private_key` is an RSA key under 2048 bits; providers refuse it")
        usable: tuple[str, ...] = _RSA_ALGS
    else:
        usable = (_EC_ALGS.get(key.curve.name, ""),)
        if not usable[0]:
            raise ValueError("`private_key` is an EC key on a curve JWS does not define")
    if requested is None:
        return usable[0]
    if requested not in usable:
        raise ValueError(f"this `private_key` can sign with {', '.join(usable)}, not {requested}")
    return requested


def check_certificates(pem: str, field: str) -> list[x509.Certificate]:
    """Every certificate in ``pem`` (a chain, leaf first); ``ValueError`` when there is none."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError(f"`{field}` is not a PEM X.509 certificate") from None
    return certificates


def check_key_pair(cert_pem: str, key_pem: str) -> None:
    """The TLS client key must be the private half of the certificate's public key."""
    leaf = check_certificates(cert_pem, "tls_client_cert")[0]
    key = _private_key(key_pem, "tls_client_key")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != leaf.public_key().public_bytes(der, public):
        raise ValueError("`tls_client_key` is not the key of `tls_client_cert`")
