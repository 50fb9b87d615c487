{#-
    RFM-style quintile score, 1 (lowest fifth) to 5 (highest fifth), of `order_by` within the rows
    where `partition_by` holds: ceil(5 × share of rows at or below this value). Ties share one score
    (ntile would split equal values across scores arbitrarily), and the top value always scores 5.
    Computed with exact integer counts, so the same on every warehouse.
-#}
{% macro quintile_score(order_by, partition_by) -%}
    cast(floor(
        (5.0 * count(*) over (partition by {{ partition_by }} order by {{ order_by }})
            + count(*) over (partition by {{ partition_by }}) - 1)
        / count(*) over (partition by {{ partition_by }})
    ) as integer)
{%- endmacro %}
