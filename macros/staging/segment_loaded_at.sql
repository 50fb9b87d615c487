{#-
    The load-time column of a Segment / RudderStack table: `uuid_ts` (both loaders), else `loaded_at`
    (RudderStack; Segment on BigQuery), else `received_at`. Read for freshness and as the dedup tie-break.
-#}
{% macro segment_loaded_at(available=none) -%}
    {%- set present = [] -%}
    {%- for column in ['uuid_ts', 'loaded_at', 'received_at'] -%}
        {%- if available is not none and column in available -%}
            {%- do present.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if present | length == 0 -%}
        cast(null as {{ dbt.type_timestamp() }})
    {%- elif present | length == 1 -%}
        {{ present[0] }}
    {%- else -%}
        coalesce({{ present | join(', ') }})
    {%- endif -%}
{%- endmacro %}
