"""Audiences: rule validation, the sqlglot guard, sizes, overlaps, explanations and reports."""
