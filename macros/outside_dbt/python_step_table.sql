{#-
    The table a Python step wrote for this model (<model>__python in the build schema), on warehouses
    whose dbt runs no Python models: the pipeline runs dbt in phases with the step between them
    (orchestration/build/outside_dbt.py). A missing table is an error that says which step writes it.
-#}
{% macro python_step_table(step) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set written = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier ~ '__python') -%}
    {%- if written is none -%}
        {{ exceptions.raise_compiler_error(
            "The table " ~ this.identifier ~ "__python is missing in " ~ this.schema ~ ": on "
            ~ target.type ~ " the pipeline's " ~ step ~ " step writes it (tessera run, or the Dagster job; "
            ~ "orchestration/build/outside_dbt.py) before this model builds."
        ) }}
    {%- endif -%}
    {{ return(written) }}
{%- endmacro %}
