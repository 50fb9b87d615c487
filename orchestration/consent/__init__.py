"""Consent evidence: whether consent was valid at the moment each record was sent."""
