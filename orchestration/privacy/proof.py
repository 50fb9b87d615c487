"""Checking a stored proof against an identifier, without the ledger ever holding the identifier."""

from __future__ import annotations

from typing import Any

from orchestration.privacy.hashing import salted_hash


def verify(request: dict[str, Any], identifier_type: str, value: str) -> dict[str, Any]:
    """Was this request about (type, value), and did its proof scan for it with zero hits?

    The subject matches when its salted hash equals the request's; the value was scanned for when its
    salted hash is among the proof's term hashes (each request has its own salt)."""
    salt = request["salt"]
    proof = request.get("proof") or {}
    subject = salted_hash(salt, f"{identifier_type}:{value}") == request["subject_hash"]
    scanned = salted_hash(salt, value) in set(proof.get("term_hashes") or [])
    return {
        "is_subject": subject,
        "was_scanned": scanned,
        "hits": proof.get("total_hits"),
        "proven_absent": scanned and proof.get("total_hits") == 0,
    }
