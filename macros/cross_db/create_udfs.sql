{#- Run at the start of every dbt invocation (on-run-start): helper functions a warehouse lacks. -#}
{% macro create_udfs() -%}
    {{ return(adapter.dispatch('create_udfs', 'tessera')()) }}
{%- endmacro %}

{% macro default__create_udfs() -%}
    select 1 as no_udfs_needed
{%- endmacro %}

{% macro postgres__create_udfs() -%}
    create schema if not exists {{ target.schema }};
    create or replace function {{ target.schema }}.tessera_try_timestamp(value text)
    returns timestamp
    language plpgsql immutable
    as $fn$
    begin
        if value is null or btrim(value) = '' then
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
