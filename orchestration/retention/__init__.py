"""Retention: raw rows kept for a configured time, then only as daily aggregates, every removal logged."""
