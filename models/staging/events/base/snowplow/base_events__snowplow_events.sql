{#-
    Snowplow's atomic `events` table (the snowplow preset), read once: every event but page pings,
    renamed into the staging contract's columns, with `event_kind` saying which base model takes it
    (page, screen or track) and `delivery_number` numbering the deliveries of one event_id across
    all kinds, first by collector_tstamp. The four base_events__* models of this preset read it.
    One model rather than four reads of the source (the style's "base models read source() only"),
    because Snowplow keeps every event type in one table: a duplicate is found over the whole table,
    which is scanned and windowed once instead of four times.
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset == 'snowplow',
    pre_hook=tessera.utc_session(),
) }}
{%- set events_relation = source('snowplow', 'events') -%}
{%- set available = tessera.relation_columns(events_relation) -%}
{%- set shown = events_relation.schema ~ '.' ~ events_relation.identifier -%}
{%- set properties = preset.event_properties -%}
{%- if execute -%}
    {%- if available is none -%}
        {{ exceptions.raise_compiler_error(
            "events preset snowplow: no " ~ events_relation.identifier ~ " table in "
            ~ events_relation.schema ~ " (sources/presets.yml; docs/sources.md)") }}
    {%- endif -%}
    {%- set required = [
        'event_id', 'event', 'collector_tstamp', 'domain_userid', 'user_id',
    ] -%}
    {%- for column in required -%}
        {%- if column not in available -%}
            {{ exceptions.raise_compiler_error(
                "events preset snowplow: " ~ shown ~ " has no column " ~ column
                ~ ": it is not Snowplow's atomic events table (docs/sources.md)") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for staging_column, column in properties.items() -%}
        {%- if column | lower not in available -%}
            {{ exceptions.raise_compiler_error(
                "events preset snowplow: event_properties." ~ staging_column ~ " names column "
                ~ column ~ ", which " ~ shown ~ " does not have (sources/presets.yml)") }}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- set cols = available or [] -%}
{%- set c = tessera.column_or_null -%}
{%- set ts = dbt.type_timestamp() -%}
{%- set text = dbt.type_string() -%}
{%- set num = dbt.type_numeric() -%}
{#- A legacy ecommerce transaction is an order; event_names come on top. -#}
{%- set names = {'transaction': 'order_completed'} -%}
{%- do names.update(preset.event_names) -%}
{%- set mapped = [] -%}
{%- for source_name, canonical in names.items() -%}
    {%- set escaped = source_name | string | replace("'", "''") -%}
    {%- do mapped.append(("'" ~ escaped ~ "'", canonical)) -%}
{%- endfor -%}
{#- load_tstamp (newer loaders), else etl_tstamp (when enrich processed it). -#}
{%- set load_columns = [] -%}
{%- for column in ['load_tstamp', 'etl_tstamp'] if column in cols -%}
    {%- do load_columns.append(column) -%}
{%- endfor -%}
{%- do load_columns.append('collector_tstamp') -%}
{#- The property columns: event_properties, else the preset's defaults. -#}
{%- set p = {} -%}
{%- for column, default, data_type in [
    ('product_id', 'ti_sku', text), ('product_category', 'ti_category', text),
    ('price', 'ti_price', num), ('order_id', 'tr_orderid', text),
    ('revenue', 'tr_total', num),
] -%}
    {%- set read = c(properties.get(column, default), cols, data_type) -%}
    {%- do p.update({column: 'cast(' ~ read ~ ' as ' ~ data_type ~ ')'}) -%}
{%- endfor -%}

{#-
    Self-describing JSON: the screen view's name, and the mobile trackers' device user id (client_session's
    userId, as Snowplow's mobile package reads it), which is the anonymous id of an app event that has no
    browser cookie. Read from whichever shapes the loader wrote, the first non-null:
    - the wide-row loaders' columns (JSON text or VARIANT), one per schema's major version;
    - the single `contexts` and `unstruct_event` columns of the older loaders and the Postgres loader
      (JSON text: {"schema": "iglu:…/contexts/jsonschema/1-0-0", "data": [entities]}, the entity found
      by its schema, major version 1);
    - Redshift-style shredded tables, one row per entity, joined on root_id / root_tstamp (the
      client_session and mobile screen_view tables, when the loader has made them).
-#}
{#- The shredded tables read when present (source table, field): root_id / root_tstamp and the field. -#}
{%- set shredded = [] -%}
{%- for table, field in [
    ('client_session', 'user_id'), ('screen_view', 'name'), ('yauaa_context', 'device_class'),
] -%}
    {%- set relation = source('snowplow', table) -%}
    {%- set columns = tessera.relation_columns(relation) -%}
    {%- if columns is not none and 'root_id' in columns and 'root_tstamp' in columns and field in columns -%}
        {%- do shredded.append({'name': 'shredded_' ~ table, 'relation': relation, 'field': field}) -%}
    {%- endif -%}
{%- endfor -%}
{%- set shredded_names = shredded | map(attribute='name') | list -%}
{%- set screen_names = [] -%}
{%- for column in [
    'unstruct_event_com_snowplowanalytics_mobile_screen_view_1',
    'unstruct_event_com_snowplowanalytics_snowplow_screen_view_1',
] if column in cols -%}
    {%- do screen_names.append(tessera.json_text(column, ['name'])) -%}
{%- endfor -%}
{%- if 'unstruct_event' in cols -%}
    {%- set legacy_schema = tessera.json_text('unstruct_event', ['data', 'schema']) -%}
    {%- set legacy_screen -%}
        case
            {%- for vendor in ['com.snowplowanalytics.mobile', 'com.snowplowanalytics.snowplow'] %}
            {%- set schema = 'iglu:' ~ vendor ~ '/screen_view/jsonschema/1-' %}
            when substr({{ legacy_schema }}, 1, {{ schema | length }}) = '{{ schema }}'
                then {{ tessera.json_text('unstruct_event', ['data', 'data', 'name']) }}
            {%- endfor %}
        end
    {%- endset -%}
    {%- do screen_names.append(legacy_screen) -%}
{%- endif -%}
{%- if 'shredded_screen_view' in shredded_names -%}
    {%- do screen_names.append('shredded_screen_view.shredded_value') -%}
{%- endif -%}
{%- set client_session = 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-' -%}
{%- set device_user_ids = [] -%}
{%- set session_context = 'contexts_com_snowplowanalytics_snowplow_client_session_1' -%}
{%- if session_context in cols -%}
    {%- do device_user_ids.append(tessera.json_text(session_context, [0, 'userId'])) -%}
{%- endif -%}
{%- if 'contexts' in cols -%}
    {%- do device_user_ids.append(
        tessera.json_item_text('contexts', ['data'], 'schema', client_session, ['data', 'userId'])
    ) -%}
{%- endif -%}
{%- if 'shredded_client_session' in shredded_names -%}
    {%- do device_user_ids.append('shredded_client_session.shredded_value') -%}
{%- endif -%}
{%- set device_user_id = 'coalesce(' ~ device_user_ids | join(', ') ~ ')' if device_user_ids
    else 'cast(null as ' ~ text ~ ')' -%}
{#-
    The device's class (desktop, phone, tablet, …) from the YAUAA enrichment's context, which Snowplow's
    enrichments add to the event's derived contexts (`derived_contexts` on the legacy loaders, merged into the
    contexts_* columns on the wide-row ones; shredded like the others): the device_type, where the enrichment
    runs; else the tracker's `platform` code, as before.
-#}
{%- set yauaa = 'iglu:nl.basjes/yauaa_context/jsonschema/1-' -%}
{%- set device_classes = [] -%}
{%- set yauaa_context = 'contexts_nl_basjes_yauaa_context_1' -%}
{%- if yauaa_context in cols -%}
    {%- do device_classes.append(tessera.json_text(yauaa_context, [0, 'deviceClass'])) -%}
{%- endif -%}
{%- if 'derived_contexts' in cols -%}
    {%- do device_classes.append(
        tessera.json_item_text('derived_contexts', ['data'], 'schema', yauaa, ['data', 'deviceClass'])
    ) -%}
{%- endif -%}
{%- if 'shredded_yauaa_context' in shredded_names -%}
    {%- do device_classes.append('shredded_yauaa_context.shredded_value') -%}
{%- endif -%}
{%- set device_class = 'lower(trim(coalesce(' ~ device_classes | join(', ') ~ ')))' if device_classes
    else none -%}

with

source as (
    select * from {{ events_relation }}
),
{#- One row per event and shredded table (a repeated event repeats its entities): the smallest value. #}
{% for table in shredded %}
{{ table.name }} as (
    select
        cast(root_id as {{ text }}) as root_id,
        cast(root_tstamp as timestamp) as root_tstamp,
        min(cast({{ table.field }} as {{ text }})) as shredded_value
    from {{ table.relation }}
    group by 1, 2
),
{% endfor %}

renamed as (
    select
        cast(event_id as {{ text }}) as message_id,
        coalesce(
            nullif(trim(domain_userid), ''),
            nullif(trim({{ device_user_id }}), '')
        ) as anonymous_id,
        nullif(trim(cast(user_id as {{ text }})), '') as user_id,
        nullif(trim({{ c('network_userid', cols) }}), '') as device_id,
        {% if device_class -%}
            case
                when {{ device_class }} in ('phone', 'mobile') then 'mobile'
                when {{ device_class }} not in ('unknown', 'anonymized', '')
                    then replace({{ device_class }}, ' ', '_')
                else {{ c('platform', cols) }}
            end
        {%- else -%}
            {{ c('platform', cols) }}
        {%- endif %} as device_type,
        {{ c('v_tracker', cols) }} as library_name,
        case
            when lower({{ c('platform', cols) }}) in ('mob', 'app') then 'app'
            else 'web'
        end as event_channel,
        {{ c('user_ipaddress', cols) }} as ip_address,
        {{ c('useragent', cols) }} as user_agent,
        {{ c('page_url', cols) }} as page_url,
        {{ c('mkt_source', cols) }} as utm_source,
        {{ c('mkt_medium', cols) }} as utm_medium,
        {{ c('mkt_campaign', cols) }} as utm_campaign,
        cast(
            coalesce({{ c('derived_tstamp', cols, ts) }}, collector_tstamp)
            as timestamp
        ) as occurred_at,
        cast({{ c('dvce_sent_tstamp', cols, ts) }} as timestamp) as sent_at,
        cast(collector_tstamp as timestamp) as received_at,
        cast(
            coalesce({{ load_columns | join(', ') }}) as timestamp
        ) as loaded_at,
        case
            when lower(event) = 'page_view' then 'page'
            when lower(event) = 'page_ping' then 'ping'
            when {{ c('event_name', cols) }} = 'screen_view' then 'screen'
            else 'track'
        end as event_kind,
        -- The name as sent: a structured event's action, else the
        -- self-describing event's schema name, else the event type.
        case
            when lower(event) = 'struct' then {{ c('se_action', cols) }}
            else coalesce({{ c('event_name', cols) }}, event)
        end as event_text,
        case
            when lower(event) = 'struct'
                then
                    {{ c('se_category', cols) }}
                    || '/'
                    || {{ c('se_action', cols) }}
        end as structured_event_key,
        {{ c('page_urlpath', cols) }} as page_path,
        {{ c('page_title', cols) }} as page_title,
        {{ c('page_referrer', cols) }} as referrer,
        {% if screen_names -%}
            coalesce({{ screen_names | join(', ') }})
        {%- else -%}
            cast(null as {{ text }})
        {%- endif %} as screen_name,
        {{ p.product_id }} as product_id,
        lower(trim({{ p.product_category }})) as product_category,
        {{ p.price }} as price,
        {{ p.order_id }} as order_id,
        {{ p.revenue }} as revenue
    from source
    {%- for table in shredded %}
    left join {{ table.name }}
        on
            cast(source.event_id as {{ text }}) = {{ table.name }}.root_id
            and cast(source.collector_tstamp as timestamp) = {{ table.name }}.root_tstamp
    {%- endfor %}
),

named as (
    select
        *,
        case
            {% for quoted, canonical in mapped -%}
                when event_text = {{ quoted }} then '{{ canonical }}'
                when structured_event_key = {{ quoted }} then '{{ canonical }}'
            {% endfor -%}
            else replace(replace(lower(trim(event_text)), ' ', '_'), '-', '_')
        end as event_name
    from renamed
    -- Page pings (activity heartbeats on an open page) are not staged.
    where event_kind <> 'ping'
),

final as (
    select
        message_id,
        {{ tessera.event_call_columns() }},
        event_kind,
        event_name,
        event_text,
        page_path,
        page_title,
        referrer,
        screen_name,
        product_id,
        product_category,
        price,
        order_id,
        revenue,
        row_number() over (
            partition by message_id
            order by received_at, loaded_at, event_kind, event_text
        ) as delivery_number
    from named
)

select * from final
