{#-
    A street for matching: lower-case, accents stripped, the usual postal abbreviations applied
    (Road → rd, Straße → str, "ul. " dropped, …), then only letters and digits kept, so
    "12 Acacia Road", "12 ACACIA RD" and "12 acacia rd." compare equal on every warehouse.
-#}
{% macro street_key(expr) -%}
    {%- set abbreviations = [
        (' street ', ' st '), (' road ', ' rd '), (' avenue ', ' ave '), (' lane ', ' ln '),
        (' drive ', ' dr '), (' crescent ', ' cres '), (' place ', ' pl '), (' gardens ', ' gdns '),
        (' close ', ' cl '), (' square ', ' sq '), (' court ', ' ct '), ('strasse', 'str'),
        (' ul ', ' '), (' ulica ', ' '), (' aleja ', ' al '), (' allee ', ' al '),
    ] -%}
    {%- set ns = namespace(sql="' ' || " ~ tessera.regexp_replace_all("lower(" ~ tessera.strip_accents(expr) ~ ")", "'[^a-z0-9]+'", "' '") ~ " || ' '") -%}
    {%- for long, short in abbreviations -%}
        {%- set ns.sql = "replace(" ~ ns.sql ~ ", '" ~ long ~ "', '" ~ short ~ "')" -%}
    {%- endfor -%}
    nullif({{ tessera.regexp_replace_all(ns.sql, "'[^a-z0-9]'", "''") }}, '')
{%- endmacro %}
