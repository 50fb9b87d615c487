{#-
    Great-circle distance in kilometres between two points given in degrees (the haversine
    formula). Only portable functions (radians, sin, cos, asin, sqrt, power), so the default works
    on DuckDB and Postgres; a warehouse with a native geography type can override it.
-#}
{% macro haversine_km(lat1, lon1, lat2, lon2) -%}
    {{ return(adapter.dispatch('haversine_km', 'tessera')(lat1, lon1, lat2, lon2)) }}
{%- endmacro %}

{% macro default__haversine_km(lat1, lon1, lat2, lon2) -%}
    (2 * 6371.0088 * asin(least(1.0, sqrt(
        power(sin(radians(({{ lat2 }}) - ({{ lat1 }})) / 2), 2)
        + cos(radians({{ lat1 }})) * cos(radians({{ lat2 }}))
        * power(sin(radians(({{ lon2 }}) - ({{ lon1 }})) / 2), 2)
    ))))
{%- endmacro %}
