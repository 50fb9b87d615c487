{#-
    A text date written in `format_expr` (a SQL expression giving one of the formats a person
    source may declare: YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY, DD-MM-YYYY, YYYYMMDD) as a
    date; null when the text does not have that shape or is not a real date (31/02/1990). The
    shape is checked first, then the parts are put in ISO order and parsed, the same way on every
    warehouse. An ISO date may carry a time part (a timestamp column cast to text).
-#}
{% macro parse_date(expr, format_expr) -%}
    {#- The groups of year, month and day, in that order. -#}
    {%- set formats = [
        ('YYYY-MM-DD', '^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})([ T].*)?$', [1, 2, 3]),
        ('DD/MM/YYYY', '^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$', [3, 2, 1]),
        ('MM/DD/YYYY', '^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$', [3, 1, 2]),
        ('DD.MM.YYYY', '^([0-9]{1,2})\\.([0-9]{1,2})\\.([0-9]{4})$', [3, 2, 1]),
        ('DD-MM-YYYY', '^([0-9]{1,2})-([0-9]{1,2})-([0-9]{4})$', [3, 2, 1]),
        ('YYYYMMDD', '^([0-9]{4})([0-9]{2})([0-9]{2})$', [1, 2, 3]),
    ] -%}
    {%- set text = "trim(" ~ expr ~ ")" -%}
    cast(
        case {{ format_expr }}
            {%- for name, pattern, groups in formats %}
            {%- set iso = tessera.regex_backreference(groups[0]) ~ '-' ~ tessera.regex_backreference(groups[1])
                ~ '-' ~ tessera.regex_backreference(groups[2]) %}
            when '{{ name }}' then case
                when {{ tessera.regex_matches(text, "'" ~ pattern ~ "'") }}
                    then {{ tessera.try_cast_timestamp("regexp_replace(" ~ text ~ ", '" ~ pattern ~ "', '" ~ iso ~ "')") }}
            end
            {%- endfor %}
        end
    as date)
{%- endmacro %}
