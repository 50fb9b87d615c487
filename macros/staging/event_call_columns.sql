{#- The columns every call of an events preset that reads one table of events carries after its message_id
    (the ids, device, channel, campaign and times), as its reading model names them: a comma list. -#}
{% macro event_call_columns() -%}
anonymous_id,
        user_id,
        device_id,
        device_type,
        library_name,
        event_channel,
        ip_address,
        user_agent,
        page_url,
        utm_source,
        utm_medium,
        utm_campaign,
        occurred_at,
        sent_at,
        received_at,
        loaded_at
{%- endmacro %}
