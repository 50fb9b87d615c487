"""The one build path: prepare, load, the phased dbt build with its Python steps, audit, publish; and its Dagster assets, jobs and schedules."""
