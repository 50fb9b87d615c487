"""Identifier normalisation and hashing follow each platform's published rules."""

from __future__ import annotations

import hashlib

import pytest

from orchestration.sync.destinations.webhook import sign
from orchestration.sync.normalise import (
    mailchimp_subscriber_hash,
    normalise_email,
    normalise_name,
    normalise_phone_e164,
    normalise_phone_meta,
    sha256_hex,
)


def test_standard_webhooks_signature_matches_the_spec_test_vector() -> None:
    # The vector from the Standard Webhooks reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    timestamp = 1614265330
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Jane.Doe@Example.COM ", "jane.doe@example.com"), ("not-an-email", None), (None, None), ("", None)],
)
def test_emails_are_trimmed_and_lowercased(raw: str | None, expected: str | None) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 (415) 555-0123", "US", "+14155550123"),
        ("415-555-0123", "US", "+14155550123"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("0044 20 7946 0018", "GB", "+442079460018"),
        ("12", "US", None),
        ("", "US", None),
    ],
)
def test_phones_become_e164_for_google_and_digits_for_meta(raw: str, region: str, e164: str | None) -> None:
    assert normalise_phone_e164(raw, region) == e164
    assert normalise_phone_meta(raw, region) == (e164[1:] if e164 else None)


def test_names_keep_letters_only_in_lowercase() -> None:
    assert normalise_name("  Mary-Ann O'Neil ") == "maryannoneil"
    assert normalise_name("Zoë") == "zoë"


def test_hashes() -> None:
    assert sha256_hex("jane.doe@example.com") == hashlib.sha256(b"jane.doe@example.com").hexdigest()
    # Mailchimp's subscriber hash is the MD5 of the lowercased address.
    assert (
        mailchimp_subscriber_hash("Jane.Doe@Example.com") == hashlib.md5(b"jane.doe@example.com").hexdigest()
    )
