{#-
    The mailbox an email address delivers to: the +tag dropped from the local part, and for Gmail
    (googlemail.com is gmail.com) the dots too, since Gmail ignores them. "Ann.Lee+news@gmail.com"
    and "annlee@gmail.com" are one mailbox. An address whose local part starts with "+" is kept
    as it is. Used by probabilistic matching (int_identity__match_features).
-#}
{% macro mailbox_key(email) -%}
    {%- set local_part = dbt.split_part(email, "'@'", 1) -%}
    {%- set domain = dbt.split_part(email, "'@'", 2) -%}
    {%- set untagged = dbt.split_part(local_part, "'+'", 1) -%}
    case
        when {{ untagged }} = '' then {{ email }}
        when {{ domain }} in ('gmail.com', 'googlemail.com')
            then replace({{ untagged }}, '.', '') || '@gmail.com'
        else {{ untagged }} || '@' || {{ domain }}
    end
{%- endmacro %}
