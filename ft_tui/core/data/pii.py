"""Find personal data and secrets in example text.

Kinds: ``email``, ``phone``, ``card`` (13-19 digits passing the Luhn check), ``secret``
(API-key shapes such as ``sk-...``, ``AKIA...``, ``ghp_...`` and long high-entropy
tokens) and ``ip`` (IPv4/IPv6). Findings are masked before they reach any message: a
report must not leak what it warns about.

Each pattern runs only when a cheap substring test says it could match, which keeps a
50 MB scan to a fraction of a second of regex work.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from typing import Iterator, NamedTuple

KIND_NAMES = {"email": "email addresses", "phone": "phone numbers", "card": "card numbers",
              "secret": "API keys or secrets", "ip": "IP addresses"}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w.+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w-])"
    r"|(?<![\w+])\+\d{10,14}(?!\w)")
_KNOWN_SECRET = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}"
    r"|hf_[A-Za-z0-9]{30,})")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]|\.\d)")
_IPV4_HINT = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")   # a literal first: a fast scan
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_DIGIT_RUN = re.compile(r"\d[\d ().-]{8,}\d")


class Finding(NamedTuple):
    kind: str
    masked: str


def find_pii(text: str) -> Iterator[Finding]:
    """Every PII-like string in ``text``, masked."""
    if "@" in text:
        for m in _EMAIL.finditer(text):
            yield Finding("email", mask_email(m.group()))
    digit_run = _DIGIT_RUN.search(text)
    if digit_run:
        cards = [m for m in _CARD.finditer(text) if luhn_ok(m.group()) and not _is_isbn(text, m)]
        for m in cards:
            yield Finding("card", mask_tail(m.group(), 4))
        card_spans = [m.span() for m in cards]
        for m in _PHONE.finditer(text):
            digits = sum(c.isdigit() for c in m.group())
            if 9 <= digits <= 15 and not any(a <= m.start() < b for a, b in card_spans):
                yield Finding("phone", mask_tail(m.group(), 2))
    yield from _secrets(text)
    if _IPV4_HINT.search(text):   # the full pattern is slow on prose full of full stops
        for m in _IPV4.finditer(text):
            yield Finding("ip", _mask_ipv4(m.group()))
    if "::" in text or text.count(":") >= 5:
        for m in _IPV6.finditer(text):
            if _is_ipv6(m.group()):
                yield Finding("ip", m.group().split(":")[0] + ":…")


# The prefixes every known key shape starts with: one literal search is far cheaper than
# the full pattern, and than eleven `in` tests.
_KNOWN_PREFIX = re.compile(r"sk-|AKIA|gh[pousr]_|github_pat_|xox|AIza|hf_")


def _secrets(text: str) -> Iterator[Finding]:
    if len(text) < 20:
        return
    known = (list(_KNOWN_SECRET.finditer(text))
             if _KNOWN_PREFIX.search(text) else [])
    for m in known:
        yield Finding("secret", mask_secret(m.group()))
    taken = [m.span() for m in known]
    for m in _LONG_TOKEN.finditer(text):
        token = m.group()
        if any(a <= m.start() < b for a, b in taken) or _is_blob_or_path(text, m):
            continue
        if _looks_random(token):
            yield Finding("secret", mask_secret(token))


def _is_isbn(text: str, m: re.Match) -> bool:
    """ISBN-13s (978/979...) pass the Luhn check by chance; "ISBN" before one says so."""
    digits = "".join(c for c in m.group() if c.isdigit())
    before = text[max(0, m.start() - 12):m.start()].upper()
    return "ISBN" in before or (len(digits) == 13 and digits[:3] in ("978", "979") and "-" in m.group())


def _is_blob_or_path(text: str, m: re.Match) -> bool:
    """Base64 data (``data:image/png;base64,...``, or a run far longer than any key) and
    URL path segments are not secrets; a key in a URL query (``?key=...``) still is."""
    before = text[max(0, m.start() - 8):m.start()]
    if before.endswith("base64,") or len(m.group()) > 400:
        return True
    word_start = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
    word = text[word_start:m.start()]
    return "://" in word and "?" not in word and "=" not in m.group()


def _looks_random(token: str) -> bool:
    """High entropy with letters and digits mixed: keys, not words or hex hashes
    (hex tops out at 4 bits per character)."""
    has_digit = any(c.isdigit() for c in token)
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    if not (has_digit and has_upper and has_lower):
        return False
    return shannon_entropy(token) > 4.2


def shannon_entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_ipv6(candidate: str) -> bool:
    if sum(c.isalnum() for c in candidate) < 3:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


# ----- masking --------------------------------------------------------------------------

def mask_email(email: str) -> str:
    user, _, domain = email.partition("@")
    return f"{user[:1]}***@{domain[:1]}***"


def mask_tail(text: str, keep: int) -> str:
    """Digits hidden except the last ``keep``: ``**** **** **** 1234``."""
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    hide = set(digits[:-keep]) if keep else set(digits)
    return "".join("*" if i in hide else c for i, c in enumerate(text))


def mask_secret(secret: str) -> str:
    """The first 4 characters and the length; never enough to use the key."""
    return f"{secret[:4]}… ({len(secret)} chars)"


def _mask_ipv4(ip: str) -> str:
    a, b, _, _ = ip.split(".")
    return f"{a}.{b}.*.*"
