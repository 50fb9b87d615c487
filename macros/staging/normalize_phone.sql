{#-
    Phone number to E.164 (+<country><number>), the same way on every warehouse.
    - `+44 7700 900123`, `0044 7700 900123` and `+44 (0) 7700 900123` keep their country code;
    - a national number (`07700 900123`) takes the calling code of `country_expr` (an ISO-2
      country code expression), or of var('default_phone_country') when that is null, and loses
      its trunk prefix 0;
    - anything that is not 8 to 15 digits afterwards is null (see is_valid_phone for the flag).
-#}
{% macro normalize_phone(expr, country_expr=none) -%}
    {%- set codes = var('phone_calling_codes') -%}
    {%- set default_code = codes[var('default_phone_country')] -%}
    {%- set cleaned = tessera.regexp_replace_all("replace(trim(" ~ expr ~ "), '(0)', '')", "'[^0-9+]'", "''") -%}
    {%- set digits = tessera.regexp_replace_all(cleaned, "'[^0-9]'", "''") -%}
    {%- if country_expr is none -%}
        {%- set calling_code = "'" ~ default_code ~ "'" -%}
    {%- else -%}
        {%- set calling_code -%}
            case upper(trim({{ country_expr }}))
                {%- for country, code in codes.items() %}
                when '{{ country }}' then '{{ code }}'
                {%- endfor %}
                else '{{ default_code }}'
            end
        {%- endset -%}
    {%- endif -%}
    {%- set candidate -%}
        case
            when {{ cleaned }} like '+%' then '+' || {{ digits }}
            when {{ digits }} like '00%' then '+' || substr({{ digits }}, 3)
            when {{ digits }} like '0%' then '+' || {{ calling_code }} || substr({{ digits }}, 2)
            else '+' || {{ calling_code }} || {{ digits }}
        end
    {%- endset -%}
    case
        when {{ tessera.regex_matches(candidate, "'^\\+[1-9][0-9]{7,14}$'") }} then {{ candidate }}
    end
{%- endmacro %}
