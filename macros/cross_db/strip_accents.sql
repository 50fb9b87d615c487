{#- Remove diacritics (ł→l, é→e, ß→ss) so that names compare the same on every warehouse. -#}
{% macro strip_accents(expr) -%}
    {{ return(adapter.dispatch('strip_accents', 'tessera')(expr)) }}
{%- endmacro %}

{% macro duckdb__strip_accents(expr) -%}
    replace(replace(replace(strip_accents({{ expr }}), 'ł', 'l'), 'Ł', 'L'), 'ß', 'ss')
{%- endmacro %}

{#- Postgres' unaccent is an extension we cannot assume; translate covers the letters our sources use. -#}
{% macro default__strip_accents(expr) -%}
    replace(
        translate(
            {{ expr }},
            'ąćęłńóśźżĄĆĘŁŃÓŚŹŻäöüÄÖÜàáâãåèéêëìíîïòôõùúûýÿñçÀÁÂÃÅÈÉÊËÌÍÎÏÒÔÕÙÚÛÝÑÇ',
            'acelnoszzACELNOSZZaouAOUaaaaaeeeeiiiiooouuuyyncAAAAAEEEEIIIIOOOUUUYNC'
        ),
        'ß', 'ss'
    )
{%- endmacro %}
