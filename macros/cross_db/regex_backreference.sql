{#- How a regexp_replace replacement names a captured group: `\1` on DuckDB and Postgres, `$1` on Spark
    (Java's syntax: there `\1` is a literal "1", so every rewritten date came out unparseable). -#}
{% macro regex_backreference(group) -%}
    {{ return(adapter.dispatch('regex_backreference', 'tessera')(group)) }}
{%- endmacro %}

{% macro default__regex_backreference(group) -%}
    {{ return('\\' ~ group) }}
{%- endmacro %}

{% macro spark__regex_backreference(group) -%}
    {{ return('$' ~ group) }}
{%- endmacro %}
