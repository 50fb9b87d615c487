{#-
    True when this build of the incremental `events` mart adds to the rows it holds; otherwise the
    mart places every event again: on the first build, a full refresh, when restaging is asked for
    (var restage_events, env TESSERA_RESTAGE_EVENTS: erasure and retention set it, as they change
    rows already placed), and when the table has no `loaded_at` (a table of a release before the
    mart was incremental). Then the old table is dropped here, as the model runs, so dbt builds it
    whole. Only a run, build or retry drops anything; a compile only reads.
-#}
{% macro events_kept() -%}
    {%- if not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if not execute or flags.WHICH not in ['run', 'build', 'retry'] or flags.EMPTY -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set yes = ['true', '1', 'yes'] -%}
    {%- set why = none -%}
    {%- if (var('restage_events') | string | lower in yes)
        or (env_var('TESSERA_RESTAGE_EVENTS', '') | lower in yes) -%}
        {%- set why = 'restaging was asked for' -%}
    {%- elif 'loaded_at' not in (adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list) -%}
        {%- set why = 'its rows carry no load time' -%}
    {%- endif -%}
    {%- if why is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- do log(this.identifier ~ ": placing every event again, " ~ why, info=true) -%}
    {%- do adapter.drop_relation(adapter.get_relation(this.database, this.schema, this.identifier)) -%}
    {{ return(false) }}
{%- endmacro %}

{#-
    True for an event of `source_name` that an incremental build of the events mart places again by
    its load time: loaded at or after that source's cut-off (the latest load of the source in the
    mart, one in the future not counting, less var events_lookback_hours), or never loaded, or from
    a source the mart holds no row of yet.
-#}
{% macro is_new_event(source_name, loaded_at) -%}
    {%- set latest = "(select max(loaded_at) from " ~ this ~ " where source_name = '" ~ source_name
        ~ "' and loaded_at <= " ~ tessera.utc_now() ~ ")" -%}
    not coalesce(
        {{ loaded_at }} < {{ dbt.dateadd('hour', -1 * (var('events_lookback_hours') | int), latest) }},
        false
    )
{%- endmacro %}

{#-
    The events mart's post-hook: after an incremental build, the events no longer in staging are removed
    (a message quarantined since it was placed: a newly suppressed identifier, an erased person's calls
    on a warehouse whose suppression only reaches the next build), as a full build would leave them out.
    One anti-join of keys per source (except), not a placement. Nothing on a build that placed every event.
-#}
{% macro events_removed_upstream() -%}
    {%- if is_incremental() -%}
delete from {{ this }}
where
    (source_name = 'events' and event_id in (
        select event_id from {{ this }} where source_name = 'events'
        except
        select message_id from {{ ref('stg_events__tracks') }}
        except
        select message_id from {{ ref('stg_events__pages') }}
        except
        select message_id from {{ ref('stg_events__identifies') }}
    ))
    or (source_name = 'esp' and event_id in (
        select event_id from {{ this }} where source_name = 'esp'
        except
        select email_event_id from {{ ref('stg_esp__email_events') }}
    ))
    or (source_name = 'pos' and event_id in (
        select event_id from {{ this }} where source_name = 'pos'
        except
        select transaction_id from {{ ref('stg_pos__transactions') }}
    ))
    {%- endif -%}
{%- endmacro %}
