"""Signing secrets: made, encrypted at rest, and used to sign per Standard Webhooks.

A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes (the base64
part decoded), as every Standard Webhooks library reads it. At rest it is encrypted with
Fernet under a key derived (HKDF-SHA256) from SECRET_KEY: a database dump alone does not
let anyone sign. Changing SECRET_KEY makes stored secrets unreadable: rotate every
subscription's secret afterwards (docs/webhooks.md).

The signature header signs `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256
under each secret in force and lists them space-separated: `v1,<b64> v1,<b64>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"commerce.webhooks.secrets"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret: str) -> str:
    return _fernet(settings.SECRET_KEY).encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet(settings.SECRET_KEY).decrypt(token.encode()).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(
    secrets_in_force: Iterable[str], msg_id: str, timestamp: int, body: str
) -> str:
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets_in_force)
