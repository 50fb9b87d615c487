"""Identifier normalisation and hashing rules the ad and email platforms publish (email, phone, names)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_sha256(value: str) -> bool:
    """True for a value that is already a lowercase SHA-256 hex digest (platforms accept pre-hashed data)."""
    return bool(_SHA256_HEX.match(value))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalise_email(value: Any) -> str | None:
    """Trimmed and lowercased, as Meta and Google require before hashing; None when it is not an email."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return text if _EMAIL.match(text) else None


def normalise_phone_e164(value: Any, default_region: str) -> str | None:
    """E.164 (`+14155550123`), as Google Customer Match requires; None when it cannot be a phone number.

    Numbers written without a country code are read in `default_region`."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    import phonenumbers  # ~0.1 s to import; only audience syncs with phones need it

    try:
        parsed = phonenumbers.parse(text, default_region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone_meta(value: Any, default_region: str) -> str | None:
    """Digits only with the country code and no `+` or leading zeros, as Meta requires (`14155550123`)."""
    e164 = normalise_phone_e164(value, default_region)
    return e164[1:] if e164 else None


def normalise_name(value: Any) -> str | None:
    """Lowercase letters only, no punctuation or spaces, accents kept as UTF-8 (Meta's FN/LN rule)."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value).strip().lower())
    text = "".join(ch for ch in text if ch.isalpha())
    return text or None


def mailchimp_subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lowercased email address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()  # noqa: S324 - Mailchimp's id scheme
