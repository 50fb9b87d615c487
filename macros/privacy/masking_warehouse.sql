{#- Where the masked views live, the salt they hash with, and who may read them, per warehouse. -#}

{#- DuckDB: schema `masked` inside the built (then published) file. Elsewhere: `<build schema>_masked`,
    which publishing renames to `<published schema>_masked` together with the build schema. -#}
{% macro masked_schema_name() -%}
    {{ return(adapter.dispatch('masked_schema_name', 'tessera')()) }}
{%- endmacro %}

{% macro default__masked_schema_name() -%}
    {{ return(target.schema ~ '_masked') }}
{%- endmacro %}

{% macro duckdb__masked_schema_name() -%}
    {{ return('masked') }}
{%- endmacro %}


{#- The salt lives beside the models, so it is carried forward by every build (the build starts from
    the published copy) and masked values stay stable; it is made once, inside the warehouse, from
    random uuids, so it never appears in a file, a log or a view definition. -#}
{% macro masking_salt_relation() -%}
    {{ return(adapter.quote(target.schema) ~ '.' ~ adapter.quote('privacy_masking_salt')) }}
{%- endmacro %}

{% macro create_masking_salt(salt_relation) -%}
    create table if not exists {{ salt_relation }} as
    select {{ dbt.hash(dbt.concat([
        dbt.cast(tessera.random_uuid(), api.Column.translate_type('string')),
        dbt.cast(tessera.random_uuid(), api.Column.translate_type('string')),
    ])) }} as salt
{%- endmacro %}


{#- Postgres: the role named by var masked_reader_role (default: env TESSERA_PG_MASKED_ROLE, else
    tessera_masked_reader; an empty name makes no grants; created NOLOGIN if missing) may use the masked schema
    and read its views, and nothing else. Views run with their owner's rights, so the role needs no
    grant on the models themselves. Grants are made on the build's masked schema; the publish rename
    keeps them. -#}
{% macro grant_masked_schema(masked_schema, views) -%}
    {{ return(adapter.dispatch('grant_masked_schema', 'tessera')(masked_schema, views)) }}
{%- endmacro %}

{% macro default__grant_masked_schema(masked_schema, views) -%}
{%- endmacro %}

{% macro postgres__grant_masked_schema(masked_schema, views) -%}
    {%- set role = var('masked_reader_role', env_var('TESSERA_PG_MASKED_ROLE', 'tessera_masked_reader')) -%}
    {%- if role -%}
        {%- do run_query(
            "do $$ begin if not exists (select 1 from pg_roles where rolname = '" ~ role | replace("'", "''")
            ~ "') then create role " ~ adapter.quote(role) ~ " nologin; end if; end $$"
        ) -%}
        {%- do run_query('grant usage on schema ' ~ adapter.quote(masked_schema) ~ ' to ' ~ adapter.quote(role)) -%}
        {%- do run_query('grant select on all tables in schema ' ~ adapter.quote(masked_schema) ~ ' to ' ~ adapter.quote(role)) -%}
    {%- endif -%}
{%- endmacro %}
