{#- Fails when the share of rows in `model` matching `where` exceeds `max_share` (e.g. a quarantine rate). -#}
{% test share_at_most(model, condition, max_share) %}
    select
        count(*) as n_rows,
        sum(case when {{ condition }} then 1 else 0 end) as n_matching
    from {{ model }}
    having sum(case when {{ condition }} then 1 else 0 end) > {{ max_share }} * count(*)
{% endtest %}
