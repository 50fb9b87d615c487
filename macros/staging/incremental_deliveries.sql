{#-
    The raw rows an incremental event-log base model (Segment's tracks, pages and screens) stages in this
    build: every delivery of each message that has a delivery loaded since the last build, less a lookback
    (var events_lookback_hours) for loads that commit out of order. A message is restaged whole, all its
    deliveries together, and replaces its rows (delete+insert on delivery_key), so its delivery_number,
    properties and quarantine reason come out as a full build gives them. Rows without a load time are
    restaged on every build.

    `relation` is the raw table (none when it is absent), `id_expr` and `loaded_at_expr` its message id
    and load time as the model reads them, `logic` the model's rendered SQL after its source (its
    fingerprint, see deliveries_kept), `also_new` a select of further message ids to restage (a track
    call's properties loaded after the call).
-#}
{% macro incremental_deliveries(relation, id_expr, loaded_at_expr, logic, also_new=none) -%}
    {%- set incremental = tessera.deliveries_kept(logic) -%}
    {%- set loaded_at = 'cast(' ~ loaded_at_expr ~ ' as timestamp)' -%}
    {%- set raw_key = tessera.delivery_key(id_expr, loaded_at) -%}
    {%- if relation is none -%}
        select 1 as no_table where 1 = 0
    {%- elif not incremental -%}
        select * from {{ relation }}
    {%- else -%}
        select * from {{ relation }}
        where {{ raw_key }} in (
            select {{ raw_key }} from {{ relation }}
            where {{ tessera.is_new_delivery(loaded_at) }}
            {%- if also_new is not none %}
            union
            select cast(message_id as {{ dbt.type_string() }}) from ({{ also_new }}) as also_new
            where {{ tessera.is_new_delivery('also_new.loaded_at') }}
            {%- endif %}
        )
    {%- endif -%}
{%- endmacro %}

{#- One key per message; rows without a message id share one per load time (or none): restaged together. -#}
{% macro delivery_key(message_id, loaded_at) -%}
    coalesce(
        cast({{ message_id }} as {{ dbt.type_string() }}),
        {{ dbt.concat(["'no message id, loaded '", "coalesce(cast(" ~ loaded_at ~ " as " ~ dbt.type_string() ~ "), 'never')"]) }}
    )
{%- endmacro %}

{#- A row loaded after the cut-off (the latest load staged so far, less the lookback), or never. -#}
{% macro is_new_delivery(loaded_at) -%}
    not coalesce({{ loaded_at }} <= {{ tessera.deliveries_cutoff() }}, false)
{%- endmacro %}

{#- The latest load time staged so far (one in the future does not count), less the lookback. -#}
{% macro deliveries_cutoff() -%}
    {%- set latest = "(select max(loaded_at) from " ~ this ~ " where loaded_at <= " ~ tessera.utc_now() ~ ")" -%}
    {{ dbt.dateadd('hour', -1 * (var('events_lookback_hours') | int), latest) }}
{%- endmacro %}

{#-
    True when this build adds to the rows staged before; otherwise the model stages every raw row again:
    on the first build, a full refresh, when restaging is asked for (var restage_events, env
    TESSERA_RESTAGE_EVENTS, which erasure, retention and `tessera run --restage` set), and when the rows
    were staged by other logic (another preset, mapping, blocklist or release: the fingerprint of `logic`,
    kept in each row's staging_logic, differs). Then the old table is dropped here, as the model runs,
    so dbt builds it whole. Only a run or build drops anything; a compile only reads.
-#}
{% macro deliveries_kept(logic) -%}
    {%- if not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if not execute or flags.WHICH not in ['run', 'build'] -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set yes = ['true', '1', 'yes'] -%}
    {%- set restage = (var('restage_events') | string | lower in yes)
        or (env_var('TESSERA_RESTAGE_EVENTS', '') | lower in yes) -%}
    {%- set why = 'restaging was asked for' if restage else none -%}
    {%- if not restage -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- if 'staging_logic' not in columns -%}
            {%- set why = 'its rows carry no staging logic' -%}
        {%- else -%}
            {#- Every row of the table is staged by one logic: a change restages them all. -#}
            {%- set kept = run_query("select staging_logic from " ~ this ~ " limit 1") -%}
            {%- if kept.rows | length > 0 and kept.rows[0][0] != local_md5(logic) -%}
                {%- set why = 'its staging logic changed' -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {%- if why is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- do log(this.identifier ~ ": staging every raw row again, " ~ why, info=true) -%}
    {%- do adapter.drop_relation(adapter.get_relation(this.database, this.schema, this.identifier)) -%}
    {{ return(false) }}
{%- endmacro %}

{#- incremental where a table can have rows deleted by key; Spark's plain tables cannot, so a table there. -#}
{% macro deliveries_materialization() -%}
    {{ return(adapter.dispatch('deliveries_materialization', 'tessera')()) }}
{%- endmacro %}

{% macro default__deliveries_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__deliveries_materialization() -%}
    {{ return('table') }}
{%- endmacro %}
