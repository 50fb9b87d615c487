{#-
    True when a normalised identifier matches a pattern of its type in the identifier_blocklist
    seed (test@…, noreply@…, 0000000000, n/a, …). Null stays false: a missing value is not junk.
-#}
{% macro is_junk_identifier(identifier_type, normalized_expr) -%}
    coalesce(
        {{ normalized_expr }} is not null and exists (
            select 1
            from {{ ref('identifier_blocklist') }} as blocklist
            where blocklist.identifier_type = '{{ identifier_type }}'
                and {{ tessera.regex_matches(normalized_expr, 'blocklist.pattern') }}
        ),
        false
    )
{%- endmacro %}
