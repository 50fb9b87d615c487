{#-
    Suppression: identifiers of erased or suppressed people are kept only as
    sha256('<identifier_type>:<normalised value>') in the table privacy_suppression_list, which
    `tessera privacy` writes beside the models (orchestration/privacy/). Python computes the same
    hash (orchestration.privacy.hashing.suppression_hash).
-#}

{#- The suppression hash of one normalised identifier column. -#}
{% macro suppression_hash(identifier_type, column) -%}
    {{ tessera.sha256_hex("'" ~ identifier_type ~ ":' || " ~ column) }}
{%- endmacro %}

{#-
    A condition that is true when any of the row's identifiers is suppressed. `identifiers` is a
    list of (identifier_type, column) pairs; the columns must already be normalised the way
    identity normalises them. Used as the first quarantine rule of every base_ model with people.
-#}
{% macro is_suppressed(identifiers) -%}
    {%- set suppressed = ref('stg_privacy__suppressed_identifiers') -%}
    (
        {%- for identifier_type, column in identifiers %}
        {{ tessera.suppression_hash(identifier_type, column) }} in (select identifier_hash from {{ suppressed }})
        {%- if not loop.last %} or{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{#- The (condition, reason) pair to put first in a base_ model's quarantine rules. -#}
{% macro suppression_check(identifiers) -%}
    {{ return((tessera.is_suppressed(identifiers), 'suppressed')) }}
{%- endmacro %}

{#- The same check for records whose identifier type is a column (consent subjects). -#}
{% macro suppression_check_typed(type_column, value_column) -%}
    {%- set suppressed = ref('stg_privacy__suppressed_identifiers') -%}
    {%- set condition -%}
        ({{ tessera.sha256_hex(type_column ~ " || ':' || " ~ value_column) }} in (select identifier_hash from {{ suppressed }}))
    {%- endset -%}
    {{ return((condition, 'suppressed')) }}
{%- endmacro %}
