{#-
    A track call's canonical event name. `names` maps the source's event name, as written
    (`event_text`, e.g. 'Order Completed') or as its slug (`event`, e.g. 'order_completed'), to
    Tessera's name; an unmapped event keeps its slug, lower-cased: Segment's and RudderStack's slugs of
    the e-commerce spec's events (product_viewed, order_completed, …) already are the canonical names.
    With no names declared, every event keeps its slug.
-#}
{% macro segment_event_name(names={}, available=none) -%}
    {%- set event = tessera.column_or_null('event', available) -%}
    {%- set event_text = tessera.column_or_null('event_text', available) -%}
    {%- if not names %}
    lower(trim({{ event }}))
    {%- else %}
    case
        {%- for source_name, canonical in names.items() %}
        {%- set quoted = "'" ~ (source_name | string | replace("'", "''")) ~ "'" %}
        when {{ event_text }} = {{ quoted }} or {{ event }} = {{ quoted }} then '{{ canonical }}'
        {%- endfor %}
        else lower(trim({{ event }}))
    end
    {%- endif %}
{%- endmacro %}
