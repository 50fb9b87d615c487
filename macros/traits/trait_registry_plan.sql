{#-
    How customer_traits computes the trait registry (models/marts/traits/_traits__models.yml):
    each trait's condition (its source, its own filter, its time window before
    `as_of`), and which grouping computes it. A trait reads one source, so the
    plain aggregates (count, sum, avg, min, max, first, last) are grouped over
    that source's rows alone (relation events_traits or orders_traits); the
    kinds that need a grouping of their own (most_frequent, distinct_list,
    distinct_count) read only the rows meeting their condition, one grouping
    (trait_rows_<n>) per source and condition, shared by the traits that have
    both alike. Returns {conditions: {trait: sql}, relations: {trait: cte},
    plain: {source: [trait]}, groupings: [{name, source, condition, traits}]}.
-#}
{% macro trait_registry_plan(registry, as_of) -%}
    {%- set sources = ['events', 'orders'] -%}
    {%- set plan = {'conditions': {}, 'relations': {}, 'plain': {'events': [], 'orders': []}, 'groupings': []} -%}
    {%- set groupings = {} -%}
    {%- for trait in registry -%}
        {%- if not trait.get('description') -%}
            {{ exceptions.raise_compiler_error("trait " ~ trait.name ~ " has no description: every trait is documented") }}
        {%- endif -%}
        {%- if trait.source not in sources -%}
            {{ exceptions.raise_compiler_error("trait " ~ trait.name ~ ": unknown source '" ~ trait.source ~ "' (events, orders)") }}
        {%- endif -%}
        {%- set conditions = ["source_rows.trait_source = '" ~ trait.source ~ "'"] -%}
        {%- if trait.get('where') %}{% do conditions.append("(" ~ trait.where ~ ")") %}{% endif -%}
        {%- if trait.get('window_days') -%}
            {%- do conditions.append("source_rows.occurred_at > " ~ dbt.dateadd('day', -1 * trait.window_days, as_of)) -%}
            {%- do conditions.append("source_rows.occurred_at <= " ~ as_of) -%}
        {%- endif -%}
        {%- set condition = conditions | join(' and ') -%}
        {%- do plan.conditions.update({trait.name: condition}) -%}
        {%- if trait.kind in ('most_frequent', 'distinct_list', 'distinct_count') -%}
            {%- set key = trait.source ~ '|' ~ condition -%}
            {%- if key not in groupings -%}
                {%- set grouping = {'name': 'trait_rows_' ~ (plan.groupings | length + 1), 'source': trait.source, 'condition': condition, 'traits': []} -%}
                {%- do groupings.update({key: grouping}) -%}
                {%- do plan.groupings.append(grouping) -%}
            {%- endif -%}
            {%- do groupings[key].traits.append(trait) -%}
            {%- do plan.relations.update({trait.name: groupings[key].name}) -%}
        {%- else -%}
            {%- do plan.plain[trait.source].append(trait.name) -%}
            {%- do plan.relations.update({trait.name: trait.source ~ '_traits'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(plan) }}
{%- endmacro %}
