{#-
    A var of the analyst configuration: the audiences (audiences/*.yml) and the trait registry
    (models/marts/traits/_traits__models.yml) reach dbt as vars, because dbt needs them at parse
    time to know each model's ref()s (orchestration/audiences/definitions.py says why). Every build
    passes them; a dbt command run by hand takes them as
        dbt build --vars "$(tessera audiences vars)"
    sqlfluff can pass only string vars, so `make sql-lint` passes them all as one JSON string,
    var tessera_analyst_json (tessera audiences vars --format sqlfluff).
    Missing at run time, the model stops with that advice instead of building without audiences.
-#}
{% macro analyst_var(name, default) -%}
    {%- set value = var(name, none) -%}
    {%- set packed = var('tessera_analyst_json', none) -%}
    {%- if value is none and packed is string -%}
        {%- set value = fromjson(packed).get(name) -%}
    {%- endif -%}
    {%- if value is none -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " is not set: the audiences (audiences/*.yml) and traits "
                ~ "(models/marts/traits/_traits__models.yml) reach dbt as vars. Run through tessera, "
                ~ "or pass them: dbt build --vars \"$(tessera audiences vars)\""
            ) }}
        {%- endif -%}
        {{ return(default) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}
