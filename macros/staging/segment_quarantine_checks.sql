{#- Quarantine rules every Segment table shares; `extra` adds table-specific (condition, reason) pairs. -#}
{#- `suppressed` lists the (identifier_type, column) pairs checked against the suppression list first. -#}
{#- `needs_person`, a condition, limits the anonymous_id / user_id check to the rows it holds for (a
    loader's state row, e.g. an `accounts` row, belongs to no person). -#}
{% macro segment_quarantine_checks(
    extra=[], suppressed=[('anonymous_id', 'anonymous_id'), ('shop_customer_id', 'user_id')], needs_person=none
) -%}
    {%- set personless = "anonymous_id is null and user_id is null" -%}
    {%- if needs_person is not none -%}
        {%- set personless = "(" ~ needs_person ~ ") and " ~ personless -%}
    {%- endif -%}
    {%- set checks = [
        tessera.suppression_check(suppressed),
        ("message_id is null", "missing message id"),
        (personless, "missing both anonymous_id and user_id"),
        ("occurred_at is null", "missing timestamp"),
        ("not " ~ tessera.is_plausible_timestamp("occurred_at"), "timestamp out of range"),
    ] + extra + [
        ("delivery_number > 1", "duplicate delivery"),
    ] -%}
    {{ return(tessera.quarantine_reason(checks)) }}
{%- endmacro %}
