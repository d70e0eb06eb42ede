"""Values as duplicate rules compare them, and the blocking keys of fuzzy rules.

Exact rules compare *keys*: an email lower-cased and trimmed, a phone in E.164, a
domain without scheme, ``www.`` or path.  Stored values went through the entity's own
normalisers on the way in (``kith.core.validation.contact_data``), so the common case is
cheap (a stored phone is E.164 already); a value that is not (imported raw, typed by a
client into ``find_duplicates_of``) goes through the same normaliser the write path uses.

Fuzzy rules compare *parts* (a person's first and last name, an organization's name)
folded to plain lower-case letters, a nickname read as its full name (Bob as Robert) and
an organization's legal form dropped (Acme Inc. as Acme), and they only ever compare
records that share a *blocking key* (``block_keys``): comparing every pair of 100,000
contacts would be five billion comparisons.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from kith.core.validation.contact_data import normalise_domain, normalise_phone

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NOT_LETTERS = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")

#: common English nicknames -> the name they stand for (both sides of a pair are read so)
NICKNAMES: dict[str, str] = {
    "abby": "abigail", "al": "albert", "alex": "alexander", "andy": "andrew", "ben": "benjamin",
    "beth": "elizabeth", "betty": "elizabeth", "bill": "william", "billy": "william", "bob": "robert",
    "bobby": "robert", "cathy": "catherine", "charlie": "charles", "chris": "christopher", "chuck": "charles",
    "dan": "daniel", "danny": "daniel", "dave": "david", "debbie": "deborah", "dick": "richard", "ed": "edward",
    "eddie": "edward", "fred": "frederick", "greg": "gregory", "hank": "henry", "jack": "john", "jake": "jacob",
    "jeff": "jeffrey", "jen": "jennifer", "jenny": "jennifer", "jerry": "gerald", "jim": "james",
    "jimmy": "james", "joe": "joseph", "joey": "joseph", "johnny": "john", "kate": "katherine",
    "kathy": "katherine", "katie": "katherine", "ken": "kenneth", "kim": "kimberly", "larry": "lawrence",
    "liz": "elizabeth", "maggie": "margaret", "matt": "matthew", "meg": "margaret", "mike": "michael",
    "mikey": "michael", "nate": "nathan", "nick": "nicholas", "pam": "pamela", "pat": "patricia",
    "patty": "patricia", "peggy": "margaret", "pete": "peter", "phil": "phillip", "rich": "richard",
    "rick": "richard", "rob": "robert", "ron": "ronald", "sam": "samuel", "sandy": "sandra", "steve": "steven",
    "sue": "susan", "ted": "edward", "tim": "timothy", "tom": "thomas", "tommy": "thomas", "tony": "anthony",
    "vicky": "victoria", "will": "william", "zach": "zachary",
}  # fmt: skip

#: words of an organization's name that say what kind of body it is, not which one
LEGAL_FORMS = frozenset(
    {
        "ag", "bv", "co", "company", "corp", "corporation", "gmbh", "group", "holding", "holdings", "inc",
        "incorporated", "limited", "llc", "llp", "ltd", "plc", "pty", "sa", "sarl", "sas", "spa", "srl", "the",
    }
)  # fmt: skip


def fold(value: Any) -> str:
    """Plain lower-case letters, digits and single spaces (accents and punctuation gone)."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    return _SPACES.sub(" ", _NOT_LETTERS.sub(" ", text)).strip()


# -- exact keys ----------------------------------------------------------------------------


def email_key(value: Any, region: str = "US") -> str | None:
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if "@" in text else None


def phone_key(value: Any, region: str = "US") -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _E164.match(text):
        return text  # stored values are E.164 already: no parsing on a scan
    try:
        return normalise_phone(text, region)
    except ValueError:
        return None


def domain_key(value: Any, region: str = "US") -> str | None:
    try:
        return normalise_domain(value, region)
    except ValueError:
        return None


def text_key(value: Any, region: str = "US") -> str | None:
    return fold(value) or None


#: how an exact rule reads a value into a key (``DuplicateRule.normalise``)
EXACT_KEYS: dict[str, Callable[[Any, str], str | None]] = {
    "email": email_key,
    "phone": phone_key,
    "domain": domain_key,
    "text": text_key,
}


# -- fuzzy parts ---------------------------------------------------------------------------


def person_parts(values: list[Any]) -> list[str]:
    """A person's name fields (first, last …) folded; the first word of the first field
    read as the full name a nickname stands for."""
    parts = [fold(value) for value in values]
    if parts and parts[0]:
        first, _, rest = parts[0].partition(" ")
        parts[0] = (NICKNAMES.get(first, first) + " " + rest).strip()
    return parts


def company_parts(values: list[Any]) -> list[str]:
    """An organization's name fields folded, without legal forms (``Acme Inc.`` -> ``acme``)."""
    out = []
    for value in values:
        words = [word for word in fold(value).split() if word not in LEGAL_FORMS]
        out.append(" ".join(words) or fold(value))
    return out


def text_parts(values: list[Any]) -> list[str]:
    return [fold(value) for value in values]


#: how a fuzzy rule reads its fields into the parts it compares (``DuplicateRule.normalise``)
FUZZY_PARTS: dict[str, Callable[[list[Any]], list[str]]] = {
    "person_name": person_parts,
    "company_name": company_parts,
    "text": text_parts,
}


def soundex(word: str) -> str:
    """American Soundex (``smith`` and ``smyth`` -> ``s530``): a word's first letter and
    the sound classes of the next consonants, so most one-letter typos keep their code."""
    codes = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3")}
    codes.update({"l": "4", "m": "5", "n": "5", "r": "6"})
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return word[:4]
    out = letters[0]
    last = codes.get(letters[0], "")
    for letter in letters[1:]:
        code = codes.get(letter, "")
        if code and code != last:
            out += code
            if len(out) == 4:
                break
        if letter not in "hw":  # h and w do not separate two consonants of one class
            last = code
    return out.ljust(4, "0")


def block_keys(parts: list[str]) -> set[str]:
    """The blocks a record's parts fall into; fuzzy rules compare two records only when
    they share one.

    Each non-empty part gives two keys, so one typo anywhere still leaves a shared key:
    its Soundex code with the other parts' initials (``smith``/``smiht`` with ``j``), and
    the part itself with the other parts' last two letters (``john`` with ``th``, which a
    typo in the first letter of the last name does not change).  A single part (an
    organization's name) is blocked by the Soundex codes of its first two words and by
    its first word without its first letter.
    """
    present = [(i, part) for i, part in enumerate(parts) if part]
    keys: set[str] = set()
    if len(present) == 1:
        index, part = present[0]
        words = part.split()
        keys.update(f"{index}s{soundex(word)}" for word in words[:2])
        if len(words[0]) > 3:
            keys.add(f"{index}w{words[0][1:]}")
        return keys
    for index, part in present:
        others = [other for i, other in present if i != index]
        keys.add(f"{index}s{soundex(part)}:" + "".join(other[0] for other in others))
        keys.add(f"{index}p{part}:" + ":".join(other[-2:] for other in others))
    return keys


def compared_text(parts: Iterable[str]) -> str:
    return " ".join(part for part in parts if part)
