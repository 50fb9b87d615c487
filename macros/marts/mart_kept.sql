{#-
    True when this build of an incremental mart (events, orders, order_items, consent_history) adds to
    the rows it holds; otherwise the mart places every row again: on the first build, a full refresh,
    when restaging is asked for (var restage_events, env TESSERA_RESTAGE_EVENTS: erasure and retention
    set it, as they change rows already placed), and when the table lacks `required_column` (the
    watermark `loaded_at` of a table of a release before the mart was incremental). Then the old table
    is dropped here, as the model runs, so dbt builds it whole. Only a run, build or retry drops
    anything; a compile only reads. `rows_name` names what is placed, for the log.
-#}
{% macro mart_kept(rows_name, required_column=none) -%}
    {%- set known = tessera.kept_before_looking() -%}
    {%- if known is not none -%}
        {{ return(known) }}
    {%- endif -%}
    {%- set yes = ['true', '1', 'yes'] -%}
    {%- set why = none -%}
    {%- if (var('restage_events') | string | lower in yes)
        or (env_var('TESSERA_RESTAGE_EVENTS', '') | lower in yes) -%}
        {%- set why = 'restaging was asked for' -%}
    {%- elif required_column is not none
        and required_column not in (adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list) -%}
        {%- set why = 'its rows carry no ' ~ (
            'load time' if required_column == 'loaded_at' else required_column) -%}
    {%- endif -%}
    {{ return(tessera.kept_unless(why, 'placing every ' ~ rows_name ~ ' again')) }}
{%- endmacro %}

{#- The start of mart_kept and kept_by_logic: false on a build that is not incremental (every row is
    computed), true where the table may be neither read nor dropped (a compile, a parse, an --empty run:
    kept), none where the caller looks at the table and decides. -#}
{% macro kept_before_looking() -%}
    {%- if not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if not execute or flags.WHICH not in ['run', 'build', 'retry'] or flags.EMPTY -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- The end of mart_kept and kept_by_logic: true (the rows are kept) when `why` is none; otherwise
    `message` and `why` are logged and the model's table is dropped here, as it runs, so dbt builds it
    whole: false. -#}
{% macro kept_unless(why, message) -%}
    {%- if why is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- do log(this.identifier ~ ": " ~ message ~ ", " ~ why, info=true) -%}
    {%- do adapter.drop_relation(adapter.get_relation(this.database, this.schema, this.identifier)) -%}
    {{ return(false) }}
{%- endmacro %}

{#-
    True for a row that an incremental build of a mart places again by its load time (`loaded_at`, an
    expression): loaded at or after the mart's cut-off (the latest `loaded_at` in the mart, of the rows
    of `source_name` when given, one in the future not counting, less var `lookback_var` hours), or
    never loaded, or of a source the mart holds no row of yet.
-#}
{% macro is_new_row(loaded_at, source_name=none, lookback_var='events_lookback_hours') -%}
    {%- set latest = "(select max(loaded_at) from " ~ this ~ " where "
        ~ ("source_name = '" ~ source_name ~ "' and " if source_name is not none else "")
        ~ "loaded_at <= " ~ tessera.utc_now() ~ ")" -%}
    not coalesce(
        {{ loaded_at }} < {{ dbt.dateadd('hour', -1 * (var(lookback_var) | int), latest) }},
        false
    )
{%- endmacro %}

{#-
    An incremental mart's post-hook: after an incremental build, the rows whose key is no longer upstream
    are removed (quarantined since they were placed: a newly suppressed identifier, an erased person's
    rows on a warehouse whose suppression only reaches the next build), as a full build would leave
    them out. `parts` is a list of {'where': a condition on the mart's rows or none, 'key': a column of
    the mart, 'kept': selects of the keys still upstream}; per part one anti-join of keys (except), not
    a placement. Nothing on a build that placed every row.
-#}
{% macro removed_upstream(parts) -%}
    {%- if is_incremental() -%}
delete from {{ this }}
where
    {%- for part in parts %}
    {{ 'or ' if not loop.first else '' }}({{ '(' ~ part.where ~ ') and ' if part.where else '' }}{{ part.key }} in (
        select {{ part.key }} from {{ this }}{{ ' where ' ~ part.where if part.where else '' }}
        {%- for kept in part.kept %}
        except
        {{ kept }}
        {%- endfor %}
    ))
    {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{#- The events mart's post-hook (removed_upstream): per source, the events whose key left staging. -#}
{% macro events_removed_upstream() -%}
    {{ tessera.removed_upstream([
        {'where': "source_name = 'events'", 'key': 'event_id', 'kept': [
            'select message_id from ' ~ ref('stg_events__tracks'),
            'select message_id from ' ~ ref('stg_events__pages'),
            'select message_id from ' ~ ref('stg_events__identifies'),
        ]},
        {'where': "source_name = 'esp'", 'key': 'event_id', 'kept': [
            'select email_event_id from ' ~ ref('stg_esp__email_events'),
        ]},
        {'where': "source_name = 'pos'", 'key': 'event_id', 'kept': [
            'select transaction_id from ' ~ ref('stg_pos__transactions'),
        ]},
    ]) }}
{%- endmacro %}

{#- The orders mart's post-hook (removed_upstream): per source, the orders whose key left staging. -#}
{% macro orders_removed_upstream() -%}
    {{ tessera.removed_upstream([
        {'where': "source_name = 'shop'", 'key': 'order_id', 'kept': [
            'select order_id from ' ~ ref('stg_shop__orders'),
        ]},
        {'where': "source_name = 'pos'", 'key': 'order_id', 'kept': [
            'select transaction_id from ' ~ ref('stg_pos__transactions'),
        ]},
    ]) }}
{%- endmacro %}

{#- The order_items mart's post-hook (removed_upstream): the lines that left staging or whose order left the
    orders mart. -#}
{% macro order_items_removed_upstream() -%}
    {{ tessera.removed_upstream([
        {'where': none, 'key': 'order_item_id', 'kept': [
            'select order_items.order_item_id from ' ~ ref('stg_shop__order_items') ~ ' as order_items'
            ~ ' inner join ' ~ ref('orders') ~ ' as orders'
            ~ " on orders.source_name = 'shop' and order_items.order_id = orders.order_id",
        ]},
    ]) }}
{%- endmacro %}

{#- The consent_history mart's post-hook (removed_upstream): the customers none of whose decisions is placed
    with them any more (every decision moved to another customer, or left staging); a customer with any
    decision left was placed again whole by the build. -#}
{% macro consent_removed_upstream() -%}
    {{ tessera.removed_upstream([
        {'where': none, 'key': 'customer_id', 'kept': [
            'select customer_identifiers.customer_id from ' ~ ref('stg_consent__consent_events')
            ~ ' as consent_events inner join ' ~ ref('customer_identifiers') ~ ' as customer_identifiers'
            ~ ' on consent_events.subject_type = customer_identifiers.identifier_type'
            ~ ' and consent_events.subject_value = customer_identifiers.identifier_value',
        ]},
    ]) }}
{%- endmacro %}
