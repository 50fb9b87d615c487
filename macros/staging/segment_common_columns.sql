{#-
    The columns every Segment / RudderStack warehouse table shares, renamed and typed. `available`
    (the raw table's columns) turns the ones a table lacks into typed nulls; `loaded_at` is the
    load-time column (the demo's `_loaded_at`, a loader's `uuid_ts` / `loaded_at`); `anonymous_id` the
    column read as the anonymous id (an alias call's `previous_id`).
-#}
{% macro segment_common_columns(available=none, loaded_at='_loaded_at', anonymous_id='anonymous_id') -%}
    {%- set c = tessera.column_or_null -%}
    {%- set ts = dbt.type_timestamp() -%}
        {{ c('id', available) }} as message_id,
        nullif(trim({{ c(anonymous_id, available) }}), '') as anonymous_id,
        nullif(trim({{ c('user_id', available) }}), '') as user_id,
        nullif(trim({{ c('context_device_id', available) }}), '') as device_id,
        {{ c('context_device_type', available) }} as device_type,
        {{ c('context_library_name', available) }} as library_name,
        case
            when {{ c('context_library_name', available) }} in ('analytics-ios', 'analytics-android') then 'app'
            {%- if available is not none %}
            {#- A loader's mobile SDKs (Segment's newer ones, RudderStack's) all send context.os.name. #}
            when lower({{ c('context_os_name', available) }}) in ('ios', 'android') then 'app'
            {%- endif %}
            when {{ c('context_device_type', available) }} = 'kiosk' then 'store'
            else 'web'
        end as event_channel,
        {{ c('context_ip', available) }} as ip_address,
        {{ c('context_user_agent', available) }} as user_agent,
        {{ c('context_page_url', available) }} as page_url,
        {{ c('context_campaign_source', available) }} as utm_source,
        {{ c('context_campaign_medium', available) }} as utm_medium,
        {{ c('context_campaign_name', available) }} as utm_campaign,
        cast({{ c('timestamp', available, ts) }} as timestamp) as occurred_at,
        cast({{ c('sent_at', available, ts) }} as timestamp) as sent_at,
        cast({{ c('received_at', available, ts) }} as timestamp) as received_at,
        cast({{ loaded_at }} as timestamp) as loaded_at
{%- endmacro %}
