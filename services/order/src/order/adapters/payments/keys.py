"""Loading RSA keys given as PEM or as the bare base64 bodies providers hand out.

A private key may be PKCS#8 or PKCS#1 (Alipay's key tool gives non-Java developers bare PKCS#1 base64, the
form alipay-sdk-python wraps in an `RSA PRIVATE KEY` marker); a key that cannot be read refuses start-up
with a message naming the setting, never echoing the key."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import load_der_x509_certificate, load_pem_x509_certificate


def private_key(text: str, setting: str = "private key") -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#8 or PKCS#1), or the bare base64 of either."""
    try:
        if _is_pem(text):
            key: object = serialization.load_pem_private_key(text.strip().encode(), password=None)
        else:
            key = serialization.load_der_private_key(_der(text), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(
            f"{setting} is not a readable RSA private key (PEM, or PKCS#8/PKCS#1 base64)"
        ) from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{setting} is not an RSA private key")
    return key


def public_key(text: str, setting: str = "public key") -> rsa.RSAPublicKey:
    """An RSA public key from PEM or bare base64: SubjectPublicKeyInfo, PKCS#1 or an X.509 certificate."""
    try:
        if _is_pem(text):
            pem = text.strip().encode()
            is_certificate = b"CERTIFICATE" in pem
            key: object = (
                load_pem_x509_certificate(pem).public_key()
                if is_certificate
                else serialization.load_pem_public_key(pem)
            )
        else:
            der = _der(text)
            try:
                key = serialization.load_der_public_key(der)
            except ValueError:
                key = load_der_x509_certificate(der).public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"{setting} is not a readable RSA public key or certificate") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{setting} is not an RSA public key")
    return key


def _is_pem(text: str) -> bool:
    return text.strip().startswith("-----BEGIN")


def _der(text: str) -> bytes:
    """Bare base64 as providers hand it out, line breaks allowed (binascii.Error is a ValueError)."""
    return base64.b64decode("".join(text.split()), validate=True)


def sign_sha256(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify_sha256(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    """SHA256withRSA (PKCS#1 v1.5); the library's verification does not leak where a mismatch is."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
