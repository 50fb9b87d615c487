{#- Run at the start of every dbt invocation (on-run-start): helper functions a warehouse lacks. -#}
{% macro create_udfs() -%}
    {{ return(adapter.dispatch('create_udfs', 'tessera')()) }}
{%- endmacro %}

{% macro default__create_udfs() -%}
    select 1 as no_udfs_needed
{%- endmacro %}

{% macro postgres__create_udfs() -%}
    create schema if not exists {{ target.schema }};
    {#- Postgres reads now, today, tomorrow and yesterday as the time the query runs: a text timestamp in
        a raw row is a date, never a word for one, so those words give null, as DuckDB's try_cast does
        (epoch and infinity parse on both, to dates far outside var earliest/latest_valid_timestamp). -#}
    create or replace function {{ target.schema }}.tessera_try_timestamp(value text)
    returns timestamp
    language plpgsql immutable
    as $fn$
    begin
        if value is null or btrim(value) = ''
            or lower(value) ~ '\m(now|today|tomorrow|yesterday)\M' then
            return null;
        end if;
        return value::timestamp;
    exception when others then
        return null;
    end;
    $fn$;
    create or replace function {{ target.schema }}.tessera_try_jsonb(value text)
    returns jsonb
    language plpgsql immutable
    as $fn$
    begin
        if value is null or btrim(value) = '' then
            return null;
        end if;
        return value::jsonb;
    exception when others then
        return null;
    end;
    $fn$;
{%- endmacro %}
