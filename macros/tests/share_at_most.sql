{#- Fails when the share of rows in `model` meeting `condition` exceeds `max_share` (used as a warning on quarantine rates). -#}
{% test share_at_most(model, condition, max_share) %}
    select
        count(*) as n_rows,
        sum(case when {{ condition }} then 1 else 0 end) as n_matching
    from {{ model }}
    having sum(case when {{ condition }} then 1 else 0 end) > {{ max_share }} * count(*)
{% endtest %}
