{#-
    The mapped preset's event table (sources/presets.yml `table:`), read once: each column renamed by the
    role `columns:` gives it, `event_kind` saying which base model takes the row (the declared
    `page_event` is a page view, everything else a track), and `delivery_number` numbering the
    deliveries of one message_id, first by load time. The preset's base_events__tracks, __pages and
    __identifies read it, as Snowplow's read base_events__snowplow_events.

    `properties` is the event's properties as a JSON object: the table's unmapped columns, and on top the
    keys of the declared properties column. A column the loader adds later (schema drift) is carried in
    with no change to the declaration, and listed in the build's log. Every property staging reads
    (event_properties, a page view's url, path, title and referrer, the utm_* campaign fields) is read
    from it, so a property may be a column or a key of the JSON. Without a message_id column, a row's id
    is a hash of its event, timestamp, ids and properties: identical rows are one event delivered twice.
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset == 'mapped',
    pre_hook=tessera.utc_session(),
) }}
{%- set events_relation = source('mapped', 'events') -%}
{%- set available = tessera.relation_columns(events_relation) -%}
{%- set shown = events_relation.schema ~ '.' ~ events_relation.identifier -%}
{%- set roles = preset.columns -%}
{%- set types = {} -%}
{%- if execute -%}
    {%- if available is none -%}
        {{ exceptions.raise_compiler_error(
            "events preset mapped: no " ~ events_relation.identifier ~ " table in "
            ~ events_relation.schema ~ " (sources/presets.yml; docs/sources.md)") }}
    {%- endif -%}
    {%- for role, column in roles.items() -%}
        {%- if column | lower not in available -%}
            {{ exceptions.raise_compiler_error(
                "events preset mapped: " ~ shown ~ " has no column " ~ column
                ~ " (columns." ~ role ~ " in sources/presets.yml): nothing was published") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for column in adapter.get_columns_in_relation(load_relation(events_relation)) -%}
        {%- do types.update({column.name | lower: column.is_string()}) -%}
    {%- endfor -%}
{%- endif -%}
{%- set c = tessera.column_or_null -%}
{%- set text = dbt.type_string() -%}
{%- set num = dbt.type_numeric() -%}
{%- set mapped_columns = roles.values() | map('lower') | list -%}
{%- set unmapped = [] -%}
{%- for column in available or [] if column not in mapped_columns -%}
    {%- do unmapped.append(column) -%}
{%- endfor -%}
{%- if execute and unmapped -%}
    {%- do log(
        "events preset mapped: " ~ shown ~ " columns carried into properties: " ~ unmapped | join(', '),
        info=true) -%}
{%- endif -%}

{#- A timestamp column may hold text: a value that does not parse is null (and the row quarantined). -#}
{%- set ts = {} -%}
{%- for role in ['timestamp', 'loaded_at'] -%}
    {%- set column = roles.get(role) -%}
    {%- if column is none -%}
        {%- do ts.update({role: 'cast(null as timestamp)'}) -%}
    {%- elif types.get(column | lower, false) -%}
        {%- do ts.update({role: tessera.try_cast_timestamp(c(column))}) -%}
    {%- else -%}
        {%- do ts.update({role: 'cast(' ~ c(column) ~ ' as timestamp)'}) -%}
    {%- endif -%}
{%- endfor -%}
{%- set id_columns = {} -%}
{%- for role in ['user_id', 'anonymous_id', 'message_id'] -%}
    {%- set column = roles.get(role) -%}
    {%- do id_columns.update({role: 'nullif(trim(cast(' ~ c(column) ~ ' as ' ~ text ~ ')), \'\')'
        if column else 'cast(null as ' ~ text ~ ')'}) -%}
{%- endfor -%}
{%- set properties_column = c(roles.properties) if roles.get('properties') else none -%}

{%- set mapped_names = [] -%}
{%- for source_name, canonical in preset.event_names.items() -%}
    {%- do mapped_names.append(("'" ~ (source_name | string | replace("'", "''")) ~ "'", canonical)) -%}
{%- endfor -%}
{%- set page_event = "'" ~ (preset.page_event | string | replace("'", "''")) ~ "'"
    if preset.page_event else none -%}

{#- A property read as a number is null unless it looks like one (Postgres has no try_cast). -#}
{%- set number_pattern = "'^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$'" -%}
{%- set p = {} -%}
{%- for column in ['product_id', 'product_category', 'price', 'order_id', 'revenue'] -%}
    {%- set value = tessera.json_text('properties', [preset.event_properties.get(column, column)]) -%}
    {%- if column in ['price', 'revenue'] -%}
        {%- set value = 'case when ' ~ tessera.regex_matches('trim(' ~ value ~ ')', number_pattern)
            ~ ' then cast(trim(' ~ value ~ ') as ' ~ num ~ ') end' -%}
    {%- endif -%}
    {%- do p.update({column: value}) -%}
{%- endfor %}

with

source as (
    select * from {{ events_relation }}
),

renamed as (
    select
        {{ id_columns.message_id }} as source_message_id,
        {{ id_columns.anonymous_id }} as anonymous_id,
        {{ id_columns.user_id }} as user_id,
        cast({{ c(roles.event) }} as {{ text }}) as event_text,
        {{ ts.timestamp }} as occurred_at,
        {{ ts.loaded_at }} as loaded_at,
        {{ tessera.json_with_columns(properties_column, unmapped) }} as properties
    from source
),

named as (
    select
        {% if roles.get('message_id') -%}
            source_message_id
        {%- else -%}
            {{ dbt.hash(dbt.concat([
                "coalesce(event_text, '')", "'|'",
                "coalesce(cast(occurred_at as " ~ text ~ "), '')", "'|'",
                "coalesce(user_id, '')", "'|'", "coalesce(anonymous_id, '')", "'|'",
                "properties",
            ])) }}
        {%- endif %} as message_id,
        anonymous_id,
        user_id,
        {% if page_event -%}
            case when event_text = {{ page_event }} then 'page' else 'track' end
        {%- else -%}
            'track'
        {%- endif %} as event_kind,
        case
            {%- for quoted, canonical in mapped_names %}
            when event_text = {{ quoted }} then '{{ canonical }}'
            {%- endfor %}
            when trim(event_text) = '' then null
            else replace(replace(lower(trim(event_text)), ' ', '_'), '-', '_')
        end as event_name,
        event_text,
        occurred_at,
        coalesce(loaded_at, occurred_at) as received_at,
        loaded_at,
        properties
    from renamed
),

final as (
    select
        message_id,
        anonymous_id,
        user_id,
        cast(null as {{ text }}) as device_id,
        cast(null as {{ text }}) as device_type,
        cast(null as {{ text }}) as library_name,
        'web' as event_channel,
        cast(null as {{ text }}) as ip_address,
        cast(null as {{ text }}) as user_agent,
        {{ tessera.json_text('properties', ['url']) }} as page_url,
        {{ tessera.json_text('properties', ['utm_source']) }} as utm_source,
        {{ tessera.json_text('properties', ['utm_medium']) }} as utm_medium,
        {{ tessera.json_text('properties', ['utm_campaign']) }} as utm_campaign,
        occurred_at,
        cast(null as timestamp) as sent_at,
        received_at,
        loaded_at,
        event_kind,
        event_name,
        event_text,
        {{ tessera.json_text('properties', ['path']) }} as page_path,
        {{ tessera.json_text('properties', ['title']) }} as page_title,
        {{ tessera.json_text('properties', ['referrer']) }} as referrer,
        {{ p.product_id }} as product_id,
        lower(trim({{ p.product_category }})) as product_category,
        {{ p.price }} as price,
        {{ p.order_id }} as order_id,
        {{ p.revenue }} as revenue,
        properties,
        row_number() over (
            partition by message_id
            order by received_at, loaded_at, event_kind, event_text, properties
        ) as delivery_number
    from named
)

select * from final
