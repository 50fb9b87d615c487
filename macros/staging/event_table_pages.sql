{#- An events preset that reads one table of events (Snowplow's atomic events, the mapped preset's own
    table) stages its calls from its reading model `events`: one row per delivery, with event_kind
    ('track' or 'page'), delivery_number and the staging columns of the other presets' base models. -#}
{#- The page views: every event of kind 'page', its url also as page_full_url. -#}
{% macro event_table_pages(events) -%}
pages as (
    select
        message_id,
        {{ tessera.event_call_columns() }},
        page_path,
        page_url as page_full_url,
        page_title,
        referrer,
        delivery_number
    from {{ events }}
    where event_kind = 'page'
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks() }} as quarantine_reason
    from pages
)
{%- endmacro %}
