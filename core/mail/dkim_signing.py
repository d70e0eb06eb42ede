"""DKIM signatures (RFC 6376) for every mail Kith sends, made with dkimpy.

The key is read and tried once, when the settings are loaded: a key that cannot sign is
one clear error naming the setting at start-up, not a failure at the 10,000th mail of a
campaign.  Signing is relaxed/relaxed (survives the re-folding and whitespace changes
relays make) over the headers a receiver and a list's unsubscribe button rely on; the
ones that must not be added in transit (From, Subject, List-Unsubscribe...) are signed
once more than they occur, so a second copy added on the way breaks the signature.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kith.core.settings import Settings

#: headers signed when the message has them (in this order)
SIGNED_HEADERS = (
    "From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Auto-Submitted", "Feedback-ID",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
)  # fmt: skip
#: ...and signed once more than they occur, so one added on the way invalidates the signature
OVERSIGNED = frozenset(h.lower() for h in ("From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
                                           "List-Unsubscribe", "List-Unsubscribe-Post"))  # fmt: skip
_PROBE = b"From: probe@example.invalid\r\nSubject: probe\r\n\r\nprobe\r\n"


class DkimKeyError(ValueError):
    """The DKIM settings cannot sign; the message names the setting."""


@dataclass(frozen=True)
class DkimSigner:
    """Signs raw messages as ``domain`` with the key published at ``selector._domainkey.domain``."""

    domain: str
    selector: str
    private_key: bytes

    def signature(self, raw: bytes) -> bytes:
        """The ``DKIM-Signature:`` header line (ending in CRLF) for ``raw``."""
        signer = _signer_class()(raw, linesep=b"\r\n")
        present = [name.decode("ascii", "replace").lower() for name, _value in signer.headers]
        include: list[str] = []
        for name in SIGNED_HEADERS:
            count = present.count(name.lower())
            include += [name.lower()] * (count + 1 if name.lower() in OVERSIGNED else count)
        header: bytes = signer.sign(
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[name.encode("ascii") for name in include],
        )
        return header

    def sign(self, raw: bytes) -> bytes:
        """``raw`` with its DKIM signature in front."""
        return self.signature(raw) + raw

    @property
    def dns_name(self) -> str:
        """Where receivers look the public key up: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def dns_record(self) -> str:
        """The TXT record to publish at ``dns_name``: the public half of the key."""
        from dkim.crypto import parse_pem_private_key

        key = parse_pem_private_key(self.private_key)
        body = _der_integer(key["modulus"]) + _der_integer(key["publicExponent"])
        public = b"\x30" + _der_length(len(body)) + body  # RSAPublicKey (RFC 8017), which DKIM accepts
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _der_integer(n: int) -> bytes:
    octets = n.to_bytes(n.bit_length() // 8 + 1, "big")  # a leading 0 keeps it positive
    return b"\x02" + _der_length(len(octets)) + octets


@functools.cache
def _signer_class() -> Any:
    """dkimpy's signer, its RSA arithmetic done by GMP (gmpy2).

    dkimpy signs in pure Python, where one RSA-2048 signature costs about 6.5 ms of CPU:
    150 mails a second would take a whole core.  Its signer hands the parsed key (a dict
    of integers) to ``gen_header``; given as ``gmpy2.mpz`` numbers, the same code does the
    same arithmetic in about 1 ms.  Every signature is still dkimpy's from end to end (the
    tests verify them with ``dkim.verify``)."""
    import dkim  # dkimpy imports dnspython's resolver: 0.1 s a command without DKIM need not pay

    try:
        import gmpy2
    except ImportError:  # pragma: no cover - gmpy2 is a dependency; without it, slower but the same
        return dkim.DKIM

    class GmpDKIM(dkim.DKIM):
        def gen_header(
            self, fields: Any, include: Any, canon: Any, name: Any, pk: Any, standardize: bool = False
        ) -> Any:
            if isinstance(pk, dict):  # RSA: modulus, exponents, primes, coefficient
                pk = {key: gmpy2.mpz(value) if isinstance(value, int) else value for key, value in pk.items()}
            return super().gen_header(fields, include, canon, name, pk, standardize)

    return GmpDKIM


def read_key(settings: Settings) -> tuple[bytes, str]:
    """The PEM key of the settings and the name of the setting it came from."""
    if settings.dkim_private_key and settings.dkim_private_key_file:
        raise DkimKeyError("dkim_private_key and dkim_private_key_file: set one of them, not both")
    if settings.dkim_private_key_file:
        try:
            return Path(settings.dkim_private_key_file).read_bytes(), "dkim_private_key_file"
        except OSError as exc:
            path = settings.dkim_private_key_file
            raise DkimKeyError(f"dkim_private_key_file: cannot read {path}: {exc.strerror}") from None
    return (settings.dkim_private_key or "").replace("\\n", "\n").encode("ascii", "replace"), "dkim_private_key"


def check_dkim_settings(settings: Settings) -> DkimSigner | None:
    """The signer the settings describe (None when DKIM is off); raises ``DkimKeyError``
    naming the setting when they are incomplete or the key cannot sign."""
    given = {
        "dkim_domain": settings.dkim_domain,
        "dkim_selector": settings.dkim_selector,
        "dkim_private_key or dkim_private_key_file": settings.dkim_private_key or settings.dkim_private_key_file,
    }
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise DkimKeyError(f"{', '.join(missing)}: needed to sign mail with DKIM (the other dkim_* settings are set)")
    key, setting = read_key(settings)
    import dkim

    signer = DkimSigner(str(settings.dkim_domain).strip().lower(), str(settings.dkim_selector).strip(), key)
    try:
        signer.signature(_PROBE)
    except (dkim.DKIMException, ValueError, IndexError) as exc:  # dkimpy's ASN.1 reader raises these
        raise DkimKeyError(f"{setting}: not an RSA private key in PEM form that can sign ({exc})") from None
    return signer


@functools.lru_cache(maxsize=8)
def _cached(domain: str | None, selector: str | None, key: str | None, key_file: str | None) -> DkimSigner | None:
    from kith.core.settings import Settings

    return check_dkim_settings(
        Settings.model_construct(
            dkim_domain=domain, dkim_selector=selector, dkim_private_key=key, dkim_private_key_file=key_file
        )
    )


def dkim_signer(settings: Settings) -> DkimSigner | None:
    """The signer for ``settings`` (None when DKIM is off), read once per configuration."""
    return _cached(
        settings.dkim_domain, settings.dkim_selector, settings.dkim_private_key, settings.dkim_private_key_file
    )
