"""The RSA key that signs the playground's id_tokens (RS256), and its public JWK.

The proxy keeps one key in its confdir (`orange-proxy-oidc-key.pem`, mode 0600), made on first use
and reused across restarts, so an app that cached the JWKS keeps verifying. Where there is no
confdir (the stand-in, an engine built in-process) a key made in memory serves the whole process.
Cassettes carry a key of their own (see `proxy_addons.scrubbing.idtokens`).

JOSE compact serialisation (RFC 7515 §7.1), the RSA JWK (RFC 7518 §6.3) and the `kid` as the key's
RFC 7638 thumbprint are format facts; `cryptography` does the RSA.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_FILE = "orange-proxy-oidc-key.pem"
KEY_BITS = 2048
ALGORITHM = "RS256"


class KeyFileError(Exception):
    """A key file that cannot be read or written; the message says what to do."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


@dataclass(frozen=True)
class SigningKey:
    """An RSA private key with its JWK `kid`; signs compact JWS tokens with RS256."""

    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """The key of a PEM private key (PKCS#8 or traditional); ValueError when it is not RSA."""
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("not an RSA private key")
        return cls(key)

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint: the same key always has the same kid, another key another."""
        jwk = self._public_numbers()
        canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    def _public_numbers(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"n": _uint(numbers.n), "e": _uint(numbers.e)}

    def public_jwk(self) -> dict[str, str]:
        return {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": self.kid, **self._public_numbers()}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.public_jwk()]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT (compact JWS) of `claims`, RS256, with this key's kid in the header."""
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": self.kid}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        )
        return self.sign_input(signing_input)

    def sign_input(self, signing_input: str) -> str:
        """`header.payload` (both base64url) with its RS256 signature appended."""
        signature = self.private.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)


def in_confdir(confdir: str | os.PathLike[str]) -> SigningKey:
    """The confdir's signing key, made there (mode 0600) when it has none yet."""
    path = Path(confdir).expanduser() / KEY_FILE
    try:
        return SigningKey.from_pem(path.read_bytes())
    except FileNotFoundError:
        pass
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(
            f"cannot read the id_token signing key {path}: {exc}; delete the file and the proxy makes a "
            "new one (apps then fetch the new JWKS)"
        ) from None
    key = SigningKey.generate()
    temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key.pem())
        # A link never replaces a file: of two proxies starting on one confdir, one key wins and
        # the other proxy reads it, never a half-written file.
        os.link(temporary, path)
    except FileExistsError:
        return in_confdir(confdir)
    except OSError as exc:
        raise KeyFileError(
            f"cannot write the id_token signing key {path}: {exc.strerror or exc}; "
            "give a writable directory with --confdir"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return key


@functools.cache
def in_memory() -> SigningKey:
    """One key for the whole process, for engines that have no confdir."""
    return SigningKey.generate()
