{#-
    The masked schema: one view per public model (marts and audiences by default, var masked_layers)
    with every column tagged `meta: {pii: true}` hashed or redacted, for analysts who need no raw PII.
    Run at the end of every dbt invocation (on-run-end), so a newly tagged column is masked by the
    next build without anyone writing a view.

    A column's `meta.masking` chooses how:
      hash    (the default for pii columns) md5 of a per-warehouse secret salt and the value, so
              masked values still join and count distinct, but cannot be looked up from a known
              email; the salt is read from a table by the view, never written into its SQL;
      redact  '[redacted]' (null stays null).

    A source system's record id leads back to the person there (an order id to the shop's order and
    its customer, a Segment message id to the event, a pair id to the two records it was made from), so
    the columns named in var masked_record_id_columns (record_id_columns below) are hashed too, in every
    masked view, unless their YAML says otherwise (meta pii false). Hashed with the same keyed hash, they
    still join across masked views (orders to order_items to events).

    Tessera's own customer ids are hashed the same way (customer_id_column below: customer_id and every
    *_customer_id, such as the old and new ids of the id history): a new customer's id is derived from their
    founding identifier without a key, so whoever knows a person's email could compute it and find them.
    The keyed hash is the same in every view and every build (the salt is carried forward), so masked tables
    still join on it.
-#}
{% macro create_masked_views() -%}
    {%- if not execute or flags.WHICH not in ('build', 'run') -%}
        {{ return('select 1 as masked_views_skipped') }}
    {%- endif -%}
    {%- set masked_schema = tessera.masked_schema_name() -%}
    {%- set salt_relation = tessera.masking_salt_relation() -%}
    {%- do run_query(tessera.create_masking_salt(salt_relation)) -%}
    {#- run_query opens no transaction of dbt's (psycopg2 opens its own): a statement that may begin one
        does, so the commit below has one to commit when no mart was built, as in a narrowed build. -#}
    {%- call statement('masked_views_transaction', auto_begin=True) -%}
        select 1
    {%- endcall -%}
    {%- do run_query('create schema if not exists ' ~ adapter.quote(masked_schema)) -%}
    {%- set layers = var('masked_layers', ['marts', 'audiences']) -%}
    {%- set created = [] -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn | length > 2 and node.fqn[1] in layers -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if relation is not none -%}
            {%- set select_list = [] -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- do select_list.append(tessera.masked_column(column, tessera.column_masking(node, column.name), salt_relation)) -%}
            {%- endfor -%}
            {%- set view = adapter.quote(masked_schema) ~ '.' ~ adapter.quote(node.alias) -%}
            {#- Dropped first: Postgres cannot `create or replace` a view whose columns changed. -#}
            {%- do run_query('drop view if exists ' ~ view) -%}
            {%- do run_query(
                'create view ' ~ view ~ ' as\nselect\n    ' ~ select_list | join(',\n    ')
                ~ '\nfrom ' ~ relation.include(database=False)
            ) -%}
            {%- do created.append(node.alias) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- A view left from a model that no longer exists (or left its layer) would point at nothing. -#}
    {%- for name in tessera.schema_relation_names(masked_schema) if name not in created -%}
        {%- do run_query('drop view if exists ' ~ adapter.quote(masked_schema) ~ '.' ~ adapter.quote(name)) -%}
    {%- endfor -%}
    {%- do tessera.grant_masked_schema(masked_schema, created) -%}
    {#- run_query opened a transaction on the hook's connection; dbt would roll it back. -#}
    {%- do adapter.commit() -%}
    {{ log('masked views: ' ~ created | length ~ ' in schema ' ~ masked_schema, info=False) }}
    select {{ created | length }} as masked_views_created
{%- endmacro %}


{#- 'hash', 'redact' or none for a column of a model, from the column's meta in the model's YAML. -#}
{% macro column_masking(node, column_name) -%}
    {%- set spec = node.columns.get(column_name) or node.columns.get(column_name | lower) or {} -%}
    {%- set meta = spec.get('meta') or {} -%}
    {%- if not meta and spec.get('config') -%}{%- set meta = spec.config.get('meta') or {} -%}{%- endif -%}
    {%- if 'pii' not in meta and (
            column_name | lower in tessera.record_id_columns() or tessera.customer_id_column(column_name)) -%}
        {{ return('hash') }}
    {%- endif -%}
    {%- if not meta.get('pii') -%}{{ return(none) }}{%- endif -%}
    {%- set masking = meta.get('masking', 'hash') -%}
    {%- if masking not in ('hash', 'redact') -%}
        {{ exceptions.raise_compiler_error(
            node.name ~ '.' ~ column_name ~ ': meta.masking must be hash or redact, not ' ~ masking) }}
    {%- endif -%}
    {{ return(masking) }}
{%- endmacro %}


{#- Columns that hold a source system's record id wherever they appear in the marts and audiences (issue 12):
    orders.order_id, order_items.order_item_id and order_id, events.event_id (the source's event or message
    id) and order_id, identity_links.pair_id (made from the two records' ids), and the names other sources'
    record ids take. record_id, linked_record and consent_event_id are tagged pii in their YAML already. -#}
{% macro record_id_columns() -%}
    {{ return(var('masked_record_id_columns', [
        'event_id', 'message_id', 'order_id', 'order_item_id', 'pair_id', 'unique_id_l', 'unique_id_r',
        'transaction_id', 'ticket_id', 'survey_response_id', 'email_event_id', 'contact_id',
        'shop_customer_id', 'crm_contact_id', 'loyalty_card_number', 'record_id_l', 'record_id_r',
    ])) }}
{%- endmacro %}


{#- Whether a column holds Tessera's customer id (issue 12): customer_id, and any name ending in _customer_id
    (previous_customer_id, old_customer_id, new_customer_id; shop_customer_id, a source's id, is hashed anyway). -#}
{% macro customer_id_column(column_name) -%}
    {%- set name = column_name | lower -%}
    {{ return(name == 'customer_id' or name.endswith('_customer_id')) }}
{%- endmacro %}


{% macro masked_column(column, masking, salt_relation) -%}
    {%- set name = adapter.quote(column.name) -%}
    {%- set as_text = dbt.cast(name, api.Column.translate_type('string')) -%}
    {%- if masking == 'hash' -%}
        {{ return(dbt.hash(dbt.concat(['(select salt from ' ~ salt_relation ~ ')', as_text])) ~ ' as ' ~ name) }}
    {%- elif masking == 'redact' -%}
        {{ return('case when ' ~ name ~ " is null then null else '[redacted]' end as " ~ name) }}
    {%- else -%}
        {{ return(name) }}
    {%- endif -%}
{%- endmacro %}
