{#- The columns every Segment / RudderStack warehouse table shares, renamed and typed. -#}
{% macro segment_common_columns() -%}
        id as message_id,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(user_id), '') as user_id,
        nullif(trim(context_device_id), '') as device_id,
        context_device_type as device_type,
        context_library_name as library_name,
        case
            when context_library_name in ('analytics-ios', 'analytics-android') then 'app'
            when context_device_type = 'kiosk' then 'store'
            else 'web'
        end as event_channel,
        context_ip as ip_address,
        context_user_agent as user_agent,
        context_page_url as page_url,
        context_campaign_source as utm_source,
        context_campaign_medium as utm_medium,
        context_campaign_name as utm_campaign,
        cast("timestamp" as timestamp) as occurred_at,
        cast(sent_at as timestamp) as sent_at,
        cast(received_at as timestamp) as received_at,
        cast(_loaded_at as timestamp) as loaded_at
{%- endmacro %}
