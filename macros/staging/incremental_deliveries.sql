{#-
    The raw rows an incremental event-log base model (Segment's tracks, pages and screens) stages in this
    build: every delivery of each message that has a delivery loaded since the last build, less a lookback
    (var events_lookback_hours) for loads that commit out of order. A message is restaged whole, all its
    deliveries together, and replaces its rows (delete+insert on delivery_key), so its delivery_number,
    properties and quarantine reason come out as a full build gives them. Rows without a load time, and
    rows without a message id (one key: delivery_key), are restaged on every build.

    `relation` is the raw table (none when it is absent), `id_expr` and `loaded_at_expr` its message id
    and load time as the model reads them, `fingerprint` what stages the rows (staging_fingerprint, see
    deliveries_kept), `also_new` a select of further message ids (and their loaded_at) to restage (a
    track call's properties loaded after the call).
-#}
{% macro incremental_deliveries(relation, id_expr, loaded_at_expr, fingerprint, also_new=none) -%}
    {%- set incremental = tessera.deliveries_kept(fingerprint) -%}
    {%- set loaded_at = 'cast(' ~ loaded_at_expr ~ ' as timestamp)' -%}
    {%- set raw_key = tessera.delivery_key(id_expr) -%}
    {%- if relation is none -%}
        select 1 as no_table where 1 = 0
    {%- elif not incremental -%}
        select * from {{ relation }}
    {%- else -%}
        select * from {{ relation }}
        where {{ raw_key }} in (
            select {{ raw_key }} from {{ relation }}
            where {{ tessera.is_new_delivery(loaded_at) }}
            union
            select 'no message id'
            {%- if also_new is not none %}
            union
            select cast(message_id as {{ dbt.type_string() }}) from ({{ also_new }}) as also_new
            where {{ tessera.is_new_delivery('also_new.loaded_at') }}
            {%- endif %}
        )
    {%- endif -%}
{%- endmacro %}

{#-
    The key an incremental event-log base model replaces rows by: the message id. Rows without one are all
    numbered in one partition (delivery_number), so they share one key and are restaged on every build.
-#}
{% macro delivery_key(message_id) -%}
    coalesce(cast({{ message_id }} as {{ dbt.type_string() }}), 'no message id')
{%- endmacro %}

{#- A row loaded at or after the cut-off (the latest load staged so far, less the lookback), or never. -#}
{% macro is_new_delivery(loaded_at) -%}
    not coalesce({{ loaded_at }} < {{ tessera.deliveries_cutoff() }}, false)
{%- endmacro %}

{#- The latest load time staged so far (one in the future does not count), less the lookback. -#}
{% macro deliveries_cutoff() -%}
    {%- set latest = "(select max(loaded_at) from " ~ this ~ " where loaded_at <= " ~ tessera.utc_now() ~ ")" -%}
    {{ dbt.dateadd('hour', -1 * (var('events_lookback_hours') | int), latest) }}
{%- endmacro %}

{#-
    What the rows of an incremental event-log base model were staged by, as one digest: the model's
    rendered `logic` (the preset, its mapping, the macros it expands, the blocklist's patterns where they
    are written into the SQL), the key scheme, the blocklist's rules and the suppression list (data the
    portable SQL reads as it runs: a new suppression must reach rows staged before it). Kept in each row's
    staging_logic; a build whose digest differs stages every row again (deliveries_kept).
-#}
{% macro staging_fingerprint(logic) -%}
    {#- ref() first, so that every caller depends on the list whatever else it reads. -#}
    {%- set suppressed = ref('stg_privacy__suppressed_identifiers') -%}
    {%- set parts = ['incremental_deliveries 3', tessera.delivery_key('message_id'), logic] -%}
    {#- The data only where the model is incremental (not on Spark), and read only as a model runs. -#}
    {%- if execute and not flags.EMPTY and tessera.deliveries_materialization() == 'incremental' -%}
        {%- for rule in tessera.junk_identifier_rules() or [] -%}
            {%- do parts.append(rule | join('|')) -%}
        {%- endfor -%}
        {%- if adapter.get_relation(suppressed.database, suppressed.schema, suppressed.identifier) is not none -%}
            {#- Digested where it is: the list may be long. -#}
            {%- set found = run_query(
                "select count(*), md5(coalesce("
                ~ dbt.listagg('identifier_hash', "','", 'order by identifier_hash') ~ ", '')) from " ~ suppressed
            ) -%}
            {%- do parts.append(found.rows[0][0] ~ ':' ~ found.rows[0][1]) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(local_md5(parts | join('\n'))) }}
{%- endmacro %}

{#-
    True when this build adds to the rows staged before; otherwise the model stages every raw row again:
    on the first build, a full refresh, when restaging is asked for (var restage_events, env
    TESSERA_RESTAGE_EVENTS, which erasure, retention, `tessera demo` and `tessera run --restage` set), and
    when the rows were staged by something else (their staging_logic is not `fingerprint`:
    staging_fingerprint). Then the old table is dropped here, as the model runs, so dbt builds it whole.
    Only a run, build or retry drops anything; a compile only reads.
-#}
{% macro deliveries_kept(fingerprint) -%}
    {%- if not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {#- Nothing is dropped by a compile, nor by an --empty run (whose sources read no rows). -#}
    {%- if not execute or flags.WHICH not in ['run', 'build', 'retry'] or flags.EMPTY -%}
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
            {#- Every row must have been staged by this logic: one row staged by another (or by none)
                restages them all. -#}
            {%- set other = run_query(
                "select count(*) from (select 1 as found from " ~ this
                ~ " where staging_logic is null or staging_logic <> '" ~ fingerprint ~ "' limit 1) as other"
            ) -%}
            {%- if other.rows[0][0] | int > 0 -%}
                {%- set why = 'what staged its rows changed (staging_logic)' -%}
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
