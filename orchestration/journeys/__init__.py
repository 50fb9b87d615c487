"""Journeys: an audience, waits and declarative conditions, and one sync step (docs/journeys.md).

`config` reads and validates journeys/*.yml and hands them to dbt (journey_members); `project` checks
them against the project's audiences, traits and syncs; `dagster` makes each journey an asset between
its audiences and its sync, and the sensor that rebuilds when a wait elapses."""
