"""Forging a signed link or token in tests, so that the forgery always differs."""

from __future__ import annotations


def tampered(text: str) -> str:
    """``text`` with its third character from the end changed.

    Not the last one: in unpadded base64 the last character can carry bits the decoder
    ignores, so changing it may decode to the very same bytes.  The replacement is ``0``
    or ``1`` so it stays inside both the hex and the base64 alphabets (the forgery fails
    on its signature, not on its syntax).
    """
    at = len(text) - 3
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :]
