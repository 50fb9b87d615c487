{#-
    RFM-style quintile score, 1 (lowest fifth) to 5 (highest fifth), from `at_or_below`, the number
    of rows whose value is at or below this row's (in the score's order), out of `total` rows:
    ceil(5 × share of rows at or below this value). Ties share one score (ntile would split equal
    values across scores arbitrarily), and the top value always scores 5. Computed with exact
    integer counts (both bigint), so the same on every warehouse.
-#}
{% macro quintile_score(at_or_below, total) -%}
    cast(floor(
        (5.0 * {{ at_or_below }} + {{ total }} - 1)
        / {{ total }}
    ) as integer)
{%- endmacro %}
