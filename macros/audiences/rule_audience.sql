{#-
    Rule audiences: an audiences/<name>.yml with a `rule:` (var audiences) is compiled here into SQL of the
    same shape as a SQL audience: one row per customer (the customer_traits population), one
    boolean column per condition (never null: a missing value does not meet a condition), then
    is_member. The model file is one line: {{ tessera.rule_audience('<name>') }}.

    A rule node is a mapping with exactly one of these keys (and an optional `name:` that becomes
    the condition's column; otherwise condition_<path>):
      all: [nodes] / any: [nodes] / not: node
      trait: <customer_traits column>, op: = != > >= < <= in not_in is_null is_not_null, value: v
      count: events | orders | order_items, where: {column: value or [values]},
          within_days: N | from: date, to: date (inclusive), at_least: 1, at_most: N
      event: <event_name or [names]>  (shorthand for count: events, where: {event_name: …})
      in_audience: <audience name>     (its is_member, before holdouts)
      consent: <purpose>               (consent_current.is_granted)
      near_store: <store_id>, within_km: N  (home city within N km of the store)
      sql: a single SELECT returning customer_id; {{ ref('<model>') }} may name models
    Any scalar may be {var: <name>}: a parameter of audiences/_audiences.yml, passed as a var.
    orchestration/audiences/rules.py validates the same structure with clear errors before dbt runs.
-#}

{% macro audience_spec(audience_name) -%}
    {%- for audience in tessera.analyst_var('audiences', []) -%}
        {%- if audience.name == audience_name -%}{{ return(audience) }}{%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}


{% macro rule_audience(audience_name) -%}
    {%- set spec = tessera.audience_spec(audience_name) -%}
    {%- if tessera.analyst_var('audiences', none) is none -%}
        {#- Even at parse time: without the rule dbt cannot know this model's ref()s. -#}
        {{ exceptions.raise_compiler_error(
            "audience " ~ audience_name ~ ": var audiences is not set: the audiences (audiences/*.yml) and traits "
            ~ "(models/marts/traits/_traits__models.yml) reach dbt as vars. Run through tessera, "
            ~ "or pass them: dbt build --vars \"$(tessera audiences vars)\""
        ) }}
    {%- endif -%}
    {%- if spec is none or not spec.get('rule') -%}
        {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": no audiences/" ~ audience_name ~ ".yml with a `rule:`") }}
    {%- endif -%}
    {%- do tessera._rule_check_cycles(audience_name) -%}
    {%- set state = {'leaves': [], 'groups': []} -%}
    {%- set membership = tessera._rule_node(spec.rule, '1', state, audience_name) -%}
    {%- set names = [] -%}
    {%- for column in state.leaves + state.groups -%}
        {%- if column.name in names or column.name in ('customer_id', 'is_member') -%}
            {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition name " ~ column.name ~ " is used twice") }}
        {%- endif -%}
        {%- do names.append(column.name) -%}
    {%- endfor %}
with

traits as (
    select * from {{ ref('customer_traits') }}
),

reference_time as (
    select max(as_of) as as_of from traits
),
{%- for leaf in state.leaves if leaf.cte %}

{{ leaf.name }}__matches as (
    {{ leaf.cte | indent(4) }}
),
{%- endfor %}

conditions as (
    select
        traits.customer_id
        {%- for leaf in state.leaves %},
        {{ leaf.expr }} as {{ leaf.name }}
        {%- endfor %}
    from traits
    {%- for leaf in state.leaves if leaf.cte %}
    left join {{ leaf.name }}__matches
        on traits.customer_id = {{ leaf.name }}__matches.customer_id
    {%- endfor %}
),

final as (
    select
        customer_id
        {%- for leaf in state.leaves %},
        {{ leaf.name }}
        {%- endfor %}
        {%- for group in state.groups %},
        {{ group.expr }} as {{ group.name }}
        {%- endfor %},
        {{ membership }} as is_member
    from conditions
)

select * from final
{%- endmacro %}


{#- The boolean expression of one node over the leaf columns; leaves are collected into state. -#}
{% macro _rule_node(node, path, state, audience_name) -%}
    {%- if node is not mapping -%}
        {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " is not a mapping: " ~ node) }}
    {%- endif -%}
    {%- set kinds = [] -%}
    {%- for key in ('all', 'any', 'not', 'trait', 'count', 'event', 'in_audience', 'consent', 'near_store', 'sql') -%}
        {%- if key in node -%}{%- do kinds.append(key) -%}{%- endif -%}
    {%- endfor -%}
    {%- if kinds | length != 1 -%}
        {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " needs exactly one of all/any/not/trait/count/event/in_audience/consent/near_store/sql, found " ~ (kinds | join(', ') or 'none')) }}
    {%- endif -%}
    {%- set kind = kinds[0] -%}
    {%- set name = node.get('name') or ('condition_' ~ path | replace('.', '_')) -%}

    {%- if kind in ('all', 'any') -%}
        {%- set parts = [] -%}
        {%- for child in node[kind] -%}
            {%- do parts.append(tessera._rule_node(child, path ~ '.' ~ loop.index, state, audience_name)) -%}
        {%- endfor -%}
        {%- if parts | length == 0 -%}
            {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " (" ~ kind ~ ") has no conditions") }}
        {%- endif -%}
        {%- set expr = '(' ~ parts | join(' and ' if kind == 'all' else ' or ') ~ ')' -%}
        {%- if node.get('name') -%}{%- do state.groups.append({'name': name, 'expr': expr}) -%}{%- endif -%}
        {{ return(expr) }}
    {%- elif kind == 'not' -%}
        {%- set expr = '(not ' ~ tessera._rule_node(node['not'], path ~ '.1', state, audience_name) ~ ')' -%}
        {%- if node.get('name') -%}{%- do state.groups.append({'name': name, 'expr': expr}) -%}{%- endif -%}
        {{ return(expr) }}
    {%- endif -%}

    {%- set leaf = {'name': name, 'cte': none, 'expr': none} -%}
    {%- if kind == 'trait' -%}
        {%- do leaf.update({'expr': tessera._rule_trait(node, audience_name, path)}) -%}
    {%- elif kind in ('count', 'event') -%}
        {%- do leaf.update(tessera._rule_count(node, name, audience_name, path)) -%}
    {%- elif kind == 'in_audience' -%}
        {%- set other = tessera._rule_value(node.in_audience) -%}
        {%- if tessera.audience_spec(other) is none -%}
            {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " refers to unknown audience " ~ other) }}
        {%- endif -%}
        {%- do leaf.update({
            'cte': "select customer_id from " ~ ref('audience_' ~ other) ~ " where is_member",
            'expr': name ~ "__matches.customer_id is not null",
        }) -%}
    {%- elif kind == 'consent' -%}
        {%- do leaf.update({
            'cte': "select customer_id from " ~ ref('consent_current') ~ " where consent_purpose = "
                ~ tessera._rule_literal(tessera._rule_value(node.consent)) ~ " and is_granted",
            'expr': name ~ "__matches.customer_id is not null",
        }) -%}
    {%- elif kind == 'near_store' -%}
        {%- set km = tessera._rule_value(node.get('within_km')) -%}
        {%- if km is none or km is string -%}
            {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " (near_store) needs a numeric within_km") }}
        {%- endif -%}
        {%- do leaf.update({
            'cte': "select customer_id from " ~ ref('int_customers_located_near_stores')
                ~ " where store_id = " ~ tessera._rule_literal(tessera._rule_value(node.near_store))
                ~ " and distance_km <= " ~ km,
            'expr': name ~ "__matches.customer_id is not null",
        }) -%}
    {%- elif kind == 'sql' -%}
        {%- do leaf.update({
            'cte': "select distinct raw_condition.customer_id from (\n" ~ tessera._rule_render_refs(node.sql) ~ "\n) as raw_condition",
            'expr': name ~ "__matches.customer_id is not null",
        }) -%}
    {%- endif -%}
    {%- do state.leaves.append(leaf) -%}
    {{ return(name) }}
{%- endmacro %}


{% macro _rule_trait(node, audience_name, path) -%}
    {%- set column = 'traits.' ~ node.trait -%}
    {%- set op = node.get('op', '=') -%}
    {%- set value = tessera._rule_value(node.get('value')) -%}
    {%- if op == 'is_null' -%}{{ return(column ~ ' is null') }}
    {%- elif op == 'is_not_null' -%}{{ return(column ~ ' is not null') }}
    {%- elif op in ('in', 'not_in') -%}
        {%- if value is string or value is not iterable -%}
            {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " (" ~ op ~ ") needs a list value") }}
        {%- endif -%}
        {%- set items = [] -%}
        {%- for item in value -%}{%- do items.append(tessera._rule_literal(item)) -%}{%- endfor -%}
        {{ return('coalesce(' ~ column ~ (' not in (' if op == 'not_in' else ' in (') ~ items | join(', ') ~ '), false)') }}
    {%- elif op in ('=', '!=', '>', '>=', '<', '<=') -%}
        {{ return('coalesce(' ~ column ~ ' ' ~ ('<>' if op == '!=' else op) ~ ' ' ~ tessera._rule_literal(value) ~ ', false)') }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " has unknown op " ~ op) }}
    {%- endif -%}
{%- endmacro %}


{#- A count of a customer's rows in events, orders or order_items, filtered and windowed. -#}
{% macro _rule_count(node, name, audience_name, path) -%}
    {%- set sources = {'events': 'occurred_at', 'orders': 'ordered_at', 'order_items': 'ordered_at'} -%}
    {%- set source = 'events' if 'event' in node else tessera._rule_value(node['count']) -%}
    {%- if source not in sources -%}
        {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": condition " ~ path ~ " counts unknown source " ~ source ~ " (events, orders, order_items)") }}
    {%- endif -%}
    {%- set stamp = 'counted.' ~ sources[source] -%}
    {%- set filters = ['counted.customer_id is not null'] -%}
    {%- set where = dict(node.get('where') or {}) -%}
    {%- if 'event' in node -%}{%- do where.update({'event_name': node.event}) -%}{%- endif -%}
    {%- for column, raw in where.items() -%}
        {%- set value = tessera._rule_value(raw) -%}
        {%- if value is string or value is number or value is boolean -%}
            {%- do filters.append('counted.' ~ column ~ ' = ' ~ tessera._rule_literal(value)) -%}
        {%- else -%}
            {%- set items = [] -%}
            {%- for item in value -%}{%- do items.append(tessera._rule_literal(item)) -%}{%- endfor -%}
            {%- do filters.append('counted.' ~ column ~ ' in (' ~ items | join(', ') ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if node.get('within_days') is not none -%}
        {%- set days = tessera._rule_value(node.within_days) | int -%}
        {%- do filters.append(stamp ~ ' > ' ~ dbt.dateadd('day', -1 * days, 'reference_time.as_of')) -%}
        {%- do filters.append(stamp ~ ' <= reference_time.as_of') -%}
    {%- endif -%}
    {%- if node.get('from') is not none -%}
        {%- do filters.append(stamp ~ " >= cast(" ~ tessera._rule_literal(tessera._rule_value(node['from']) | string) ~ " as timestamp)") -%}
    {%- endif -%}
    {%- if node.get('to') is not none -%}
        {%- do filters.append(stamp ~ " < " ~ dbt.dateadd('day', 1, "cast(" ~ tessera._rule_literal(tessera._rule_value(node['to']) | string) ~ " as timestamp)")) -%}
    {%- endif -%}
    {%- set at_least = tessera._rule_value(node.get('at_least', 1)) | int -%}
    {%- set count_expr = 'coalesce(' ~ name ~ '__matches.matching_count, 0)' -%}
    {%- set tests = [count_expr ~ ' >= ' ~ at_least] -%}
    {%- if node.get('at_most') is not none -%}
        {%- do tests.append(count_expr ~ ' <= ' ~ (tessera._rule_value(node.at_most) | int)) -%}
    {%- endif -%}
    {%- set cte -%}
select
        counted.customer_id,
        count(*) as matching_count
    from {{ ref(source) }} as counted
    cross join reference_time
    where {{ filters | join('\n        and ') }}
    group by 1
    {%- endset -%}
    {{ return({'cte': cte, 'expr': '(' ~ tests | join(' and ') ~ ')'}) }}
{%- endmacro %}


{#- {var: name} reads a parameter (audiences/_audiences.yml, passed as a var); anything else is taken as it is. -#}
{% macro _rule_value(value) -%}
    {%- if value is mapping and 'var' in value -%}{{ return(tessera.analyst_var(value['var'], none)) }}{%- endif -%}
    {{ return(value) }}
{%- endmacro %}


{% macro _rule_literal(value) -%}
    {%- if value is boolean -%}{{ return('true' if value else 'false') }}
    {%- elif value is number -%}{{ return(value | string) }}
    {%- elif value is none -%}{{ return('null') }}
    {%- else -%}{{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
    {%- endif -%}
{%- endmacro %}


{#- A raw `sql:` condition may name models as {{ ref('name') }}: each becomes a real ref. -#}
{% macro _rule_render_refs(sql) -%}
    {%- set pattern = "\\{\\{\\s*ref\\(\\s*['\"]([A-Za-z0-9_]+)['\"]\\s*\\)\\s*\\}\\}" -%}
    {#- A trailing semicolon would end the statement inside the subquery. -#}
    {%- set rendered = {'sql': sql.strip().rstrip(';')} -%}
    {%- for model_name in modules.re.findall(pattern, sql) | unique -%}
        {%- set one = "\\{\\{\\s*ref\\(\\s*['\"]" ~ model_name ~ "['\"]\\s*\\)\\s*\\}\\}" -%}
        {%- do rendered.update({'sql': modules.re.sub(one, (ref(model_name) | string) | replace('\\', '\\\\'), rendered.sql)}) -%}
    {%- endfor -%}
    {{ return(rendered.sql) }}
{%- endmacro %}


{% macro _rule_references(node, found) -%}
    {%- if node is mapping -%}
        {%- if 'in_audience' in node -%}{%- do found.append(tessera._rule_value(node.in_audience)) -%}{%- endif -%}
        {%- for key in ('all', 'any') -%}
            {%- for child in node.get(key) or [] -%}{%- do tessera._rule_references(child, found) -%}{%- endfor -%}
        {%- endfor -%}
        {%- if 'not' in node -%}{%- do tessera._rule_references(node['not'], found) -%}{%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- Refuse in_audience references that lead back to the audience, naming the chain. -#}
{% macro _rule_check_cycles(audience_name) -%}
    {%- set audiences = tessera.analyst_var('audiences', []) -%}
    {%- set paths = [[audience_name]] -%}
    {%- for _ in range(audiences | length + 1) -%}
        {%- set next_paths = [] -%}
        {%- for chain in paths -%}
            {%- set spec = tessera.audience_spec(chain[-1]) -%}
            {%- set found = [] -%}
            {%- if spec is not none and spec.get('rule') -%}{%- do tessera._rule_references(spec.rule, found) -%}{%- endif -%}
            {%- for other in found | unique -%}
                {%- if other == audience_name -%}
                    {{ exceptions.raise_compiler_error("audience " ~ audience_name ~ ": in_audience references form a cycle: " ~ (chain + [other]) | join(' -> ')) }}
                {%- endif -%}
                {%- if other not in chain -%}{%- do next_paths.append(chain + [other]) -%}{%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- do paths.clear() -%}
        {%- do paths.extend(next_paths) -%}
    {%- endfor -%}
{%- endmacro %}
