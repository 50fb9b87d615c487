{#-
    Survivorship per golden-record attribute: which of a customer's candidate values `customers`
    shows. The rules are set beside the model they configure, in
    models/marts/customers/_customers__models.yml:

        - name: customers
          config:
            meta:
              survivorship: {name: source_priority, email: most_recent, ...}

    Rules (ties always fall back to the default order: source priority, then the most recent record,
    then the most complete, then the record id):
    - source_priority: the value of the highest-priority source (seed source_priority) — the default;
    - most_recent:     the value of the most recently observed record;
    - most_frequent:   the value most of the customer's records carry (names compared lower-cased);
    - longest:         the longest value (a name's first and last name together, an address's parts).
    An attribute left out keeps the default. An unknown attribute or rule stops the compile, naming
    the key.
-#}
{% macro survivorship_rules() -%}
    {%- set attributes = ['name', 'email', 'phone', 'address'] -%}
    {%- set known_rules = ['source_priority', 'most_recent', 'most_frequent', 'longest'] -%}
    {%- set where = 'models/marts/customers/_customers__models.yml: customers.config.meta.survivorship' -%}
    {%- set configured = tessera.survivorship_config() -%}
    {%- if configured is none -%}
        {%- set configured = {} -%}
    {%- endif -%}
    {%- if configured is not mapping -%}
        {{ exceptions.raise_compiler_error(
            where ~ " must map attributes to rules, e.g. {name: most_recent}; got " ~ configured
        ) }}
    {%- endif -%}
    {%- set rules = {} -%}
    {%- for attribute in attributes -%}
        {%- do rules.update({attribute: 'source_priority'}) -%}
    {%- endfor -%}
    {%- for attribute, rule in configured.items() -%}
        {%- if attribute not in attributes -%}
            {{ exceptions.raise_compiler_error(
                where ~ "." ~ attribute ~ ": unknown attribute; the attributes are " ~ attributes | join(', ')
            ) }}
        {%- endif -%}
        {%- if rule not in known_rules -%}
            {{ exceptions.raise_compiler_error(
                where ~ "." ~ attribute ~ ": unknown rule '" ~ rule ~ "'; the rules are " ~ known_rules | join(', ')
            ) }}
        {%- endif -%}
        {%- do rules.update({attribute: rule}) -%}
    {%- endfor -%}
    {{ return(rules) }}
{%- endmacro %}

{#-
    The survivorship mapping as configured on the customers model (its config.meta.survivorship),
    or none when it sets none, while dbt parses, and in unit tests (which override this macro to try
    a rule).
-#}
{% macro survivorship_config() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {#- A unit test's context has no graph: its rules come from an override of this macro. -#}
    {%- set customers = (graph.get('nodes') or {}).get('model.' ~ project_name ~ '.customers') -%}
    {%- if customers is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set meta = customers.config.meta or customers.meta or {} -%}
    {{ return(meta.get('survivorship')) }}
{%- endmacro %}
