"""Dagster assets: raw loads, the dbt models, and publishing."""
