{#-
    Spark's version of dbt's split_part (dispatched in the `dbt` namespace, where the root project is
    searched first; DuckDB and Postgres keep dbt's). dbt-spark's splits on a regex and escapes the
    delimiter with a backslash written as '\\', which under spark.sql.parser.escapedStringLiterals
    (the cluster's setting, docs/spark.md) is two backslashes: the delimiter never matched, so the
    domain of every e-mail was null and probabilistic matching saw no e-mails. Spark's own split_part
    splits on the literal delimiter and gives '' for a part that is not there, as DuckDB's and
    Postgres's do.
-#}
{% macro spark__split_part(string_text, delimiter_text, part_number) %}
    split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{% endmacro %}
