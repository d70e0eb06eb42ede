"""Normalise contact data with the libraries that know the rules.

Emails go through ``email-validator`` (syntax only: a CRM must accept addresses of
domains that are down today), phones through ``phonenumbers`` into E.164, so that
de-duplication and search compare like with like.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import urlparse

import phonenumbers
from email_validator import EmailNotValidError, validate_email

#: an ASCII local part that is a dot-atom (RFC 5322): what email-validator accepts as it is
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def normalise_email(value: Any, region: str = "US") -> str:
    """An email address, syntax-checked and lower-cased; raises ``ValueError`` with a
    message for the client.  Usable as an ``Entity`` normaliser.

    Most of email-validator's time goes to the domain (IDNA rules per character), and an
    import of a million contacts has a few thousand domains: a plain ASCII address has
    its domain checked once per domain (cached), its local part by the same dot-atom
    rule; anything else goes through the library whole."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if at and len(local) <= 64 and len(text) <= 254 and _PLAIN_LOCAL.fullmatch(local) and domain.isascii():
        checked = _checked_domain(domain.lower())
        if checked is not None:
            return f"{local}@{checked}".lower()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None
    return result.normalized.lower()


@functools.lru_cache(maxsize=8192)
def _checked_domain(domain: str) -> str | None:
    """The domain as email-validator normalises it, or None when it refuses it (the
    caller then lets the library say why, with the whole address)."""
    try:
        return str(validate_email(f"a@{domain}", check_deliverability=False).domain)
    except EmailNotValidError:
        return None


def normalise_phone(value: Any, region: str = "US") -> str:
    """A phone number in E.164 (``+14155552671``), read in ``region`` when it has no
    country code; raises ``ValueError`` otherwise.  Usable as an ``Entity`` normaliser."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{value!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{value!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_url(value: Any, region: str = "US") -> str:
    """A web address, ``https://`` added when no scheme is given; raises ``ValueError``
    for anything that is not an http(s) address.  Usable as an ``Entity`` normaliser."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or "." not in parsed.netloc or " " in text:
        raise ValueError(f"{value!r} is not a web address")
    return text


def normalise_domain(value: Any, region: str = "US") -> str:
    """A bare domain name (``https://www.Acme.example/`` -> ``acme.example``); raises
    ``ValueError`` otherwise.  Usable as an ``Entity`` normaliser."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = value.strip().lower()
    if "://" in text:
        text = urlparse(text).netloc
    text = text.removeprefix("www.").rstrip("/")
    labels = text.split(".")
    if len(labels) < 2 or not all(label and label.replace("-", "").isalnum() for label in labels):
        raise ValueError(f"{value!r} is not a domain name")
    return text


def normalise_country(value: Any, region: str = "US") -> str:
    if not isinstance(value, str) or len(value.strip()) != 2 or not value.strip().isalpha():
        raise ValueError("must be a two-letter ISO 3166 country code")
    return value.strip().upper()


def each(normaliser: Any) -> Any:
    """Apply a normaliser to every item of a list, dropping duplicates, keeping order."""

    def normalise_list(values: Any, region: str = "US") -> list[str]:
        if not isinstance(values, list):
            raise ValueError("must be a list")
        out: list[str] = []
        for index, item in enumerate(values):
            try:
                normalised = normaliser(item, region)
            except ValueError as exc:
                raise ValueError(f"item {index + 1}: {exc}") from None
            if normalised not in out:
                out.append(normalised)
        return out

    return normalise_list
