{#-
    A var of the analyst configuration: the audiences (audiences/*.yml) and the trait registry
    (models/marts/traits/_traits__models.yml) reach dbt as vars, because dbt needs them at parse
    time to know each model's ref()s (orchestration/audiences/definitions.py says why). Every build
    passes them; a dbt command run by hand takes them as
        dbt build --vars "$(tessera audiences vars)"
    Missing at run time, the model stops with that advice instead of building without audiences.
-#}
{% macro analyst_var(name, default) -%}
    {%- set value = var(name, none) -%}
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
