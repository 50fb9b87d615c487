"""The hashes privacy keeps instead of identifiers: unsalted for the suppression list, salted per request for proofs."""

from __future__ import annotations

import hashlib
import secrets


def suppression_hash(identifier_type: str, value: str) -> str:
    """sha256('<type>:<normalised value>'), as the dbt macro `suppression_hash` computes it in SQL.

    Unsalted on purpose: staging must recognise a returning identifier by recomputing this hash."""
    return hashlib.sha256(f"{identifier_type}:{value}".encode()).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def salted_hash(salt: str, term: str) -> str:
    """sha256(salt + ':' + lowercased term): matches a later request for the same identifier only to
    someone who knows both the identifier and this request's salt."""
    return hashlib.sha256(f"{salt}:{term.strip().lower()}".encode()).hexdigest()
