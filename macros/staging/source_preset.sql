{#-
    The preset a source system's raw tables follow and where they are, from the `source_presets` var
    (sources/presets.yml, handed to dbt by orchestration/source_presets). Read at parse time by the
    base models' `enabled` config; a var left unset means the demo preset.
-#}
{% macro source_preset(system) -%}
    {%- set declared = var('source_presets', {}).get(system) or {} -%}
    {{ return({
        'preset': declared.get('preset') or 'demo',
        'database': declared.get('database'),
        'schema': declared.get('schema'),
        'table_prefix': declared.get('table_prefix') or '',
        'event_names': declared.get('event_names') or {},
        'table': declared.get('table'),
        'columns': declared.get('columns') or {},
        'page_event': declared.get('page_event'),
        'event_properties': declared.get('event_properties') or {
            'product_id': 'product_id', 'product_category': 'category', 'price': 'price',
            'order_id': 'order_id', 'revenue': 'revenue',
        },
    }) }}
{%- endmacro %}
