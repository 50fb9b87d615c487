{#-
    On DuckDB and Spark is_junk_identifier writes the blocklist's patterns into the SQL as constants;
    the lookup form (junk_identifier_looked_up: the portable correlated subquery, Spark's alternation)
    reads them while the query runs. Both must flag the same values: each row here is a
    value on which they disagree, or a sign that the constants were not written in at all. The
    values are the seed's own patterns and junk and ordinary identifiers of every type, each checked
    as every type (and as one without patterns).
-#}
{%- set identifier_types = ['email', 'phone', 'name', 'postcode', 'loyalty_card', 'anonymous_id', 'shop_customer_id'] -%}

with

blocklist as (
    select * from {{ ref('identifier_blocklist') }}
),

examples as (
    select candidate
    from (
        values
            ('test@shop.com'), ('testy@shop.com'), ('contest@shop.com'), ('xxxx@shop.com'),
            ('noreply@brand.co.uk'), ('no-reply@brand.co.uk'), ('do-not-reply@brand.co.uk'),
            ('postmaster@brand.co.uk'), ('ann@mailinator.com'), ('ann@example.org'), ('ann@test.co.uk'),
            ('ann.lee@gmail.com'), ('o''brien@shop.com'), ('TEST@SHOP.COM'), ('n/a'), ('na'), ('none'),
            ('-'), ('.'), (''),
            ('+440000000000'), ('+4400000001'), ('0000000'), ('+447700900123'), ('+1111111111'),
            ('+44123456789'), ('+4401234567890'), ('+44987654321'), ('+447911123456'), ('07700900000'),
            ('test'), ('mr'), ('mrs'), ('xxx'), ('ann'), ('nana'), ('unknown'),
            ('000'), ('SW1A 1AA'), ('xxxx'),
            ('LC000000'), ('TEST'), ('LCX'), ('NONE'), ('LC12345678'), ('ABCDE0'),
            ('0000'), ('undefined'), ('null'), ('a1b2-c3d4'), ('unknownx')
    ) as examples (candidate)
),

candidates as (
    select pattern as candidate from blocklist
    union all
    select candidate from examples
    union all
    select cast(null as {{ tessera.type_varchar() }}) as candidate
),

compared as (
    {%- for identifier_type in identifier_types %}
    select
        '{{ identifier_type }}' as identifier_type,
        candidate,
        {{ tessera.is_junk_identifier(identifier_type, 'candidate') }} as is_junk,
        {{ tessera.junk_identifier_looked_up(identifier_type, 'candidate') }} as is_junk_looked_up
    from candidates
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

disagreements as (
    select
        identifier_type,
        candidate,
        'the two forms disagree' as problem
    from compared
    where is_junk <> is_junk_looked_up
),

{#- junk_identifier_reason, whose type is an expression: the same two forms, and the same verdict. #}
typed as (
    select
        identifier_types.identifier_type,
        candidates.candidate
    from candidates
    cross join (
        {%- for identifier_type in identifier_types %}
        select '{{ identifier_type }}' as identifier_type
        {%- if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as identifier_types
),

reasons as (
    select
        typed.identifier_type,
        typed.candidate,
        {#- Qualified: the portable form is a subquery whose own columns would shadow bare names. #}
        {{ tessera.junk_identifier_reason('typed.identifier_type', 'typed.candidate') }} as reason,
        {{ tessera.junk_identifier_reason_looked_up('typed.identifier_type', 'typed.candidate') }}
            as reason_looked_up
    from typed
),

reason_disagreements as (
    select
        reasons.identifier_type,
        reasons.candidate,
        'the two reason forms disagree, or disagree with is_junk_identifier' as problem
    from reasons
    inner join compared
        on
            reasons.identifier_type = compared.identifier_type
            and reasons.candidate is not distinct from compared.candidate
    where
        reasons.reason is distinct from reasons.reason_looked_up
        or (reasons.reason is not null) <> compared.is_junk
),

{#- Agreeing on values that are all junk, or all not, would prove little. #}
one_sided as (
    select
        identifier_type,
        cast(null as {{ tessera.type_varchar() }}) as candidate,
        'no junk and ordinary values both' as problem
    from compared
    where identifier_type <> 'shop_customer_id'
    group by 1
    having count(case when is_junk then 1 end) = 0 or count(case when not is_junk then 1 end) = 0
),

{#- Without its constants the DuckDB form is the portable one, and the comparison proves nothing. #}
not_inlined as (
    select
        'email' as identifier_type,
        cast(null as {{ tessera.type_varchar() }}) as candidate,
        'the patterns were not written into the SQL' as problem
    where {{ 'true' if target.type == 'duckdb' and execute and tessera.junk_identifier_patterns('email') is none else 'false' }}
        or {{ 'true' if target.type == 'duckdb' and execute and tessera.junk_identifier_rules() is none else 'false' }}
),

final as (
    select * from disagreements
    union all
    select * from reason_disagreements
    union all
    select * from one_sided
    union all
    select * from not_inlined
)

select * from final
