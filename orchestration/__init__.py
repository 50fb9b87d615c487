"""Tessera: orchestration, sync engine and CLI."""
