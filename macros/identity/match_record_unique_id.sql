{#- A person record's id in probabilistic matching (Splink's unique_id): `source:table:record_id`. -#}
{% macro match_record_unique_id(prefix='') -%}
    {{ prefix }}source_name || ':' || {{ prefix }}table_name || ':' || {{ prefix }}record_id
{%- endmacro %}

{#- int_identity__match_record_keys' post-hook (removed_upstream): the records no longer among the person
    records. -#}
{% macro match_record_keys_removed_upstream() -%}
    {{ tessera.removed_upstream([
        {'where': none, 'key': 'unique_id', 'kept': [
            'select ' ~ tessera.match_record_unique_id() ~ ' from ' ~ ref('int_identity__person_records'),
        ]},
    ]) }}
{%- endmacro %}
