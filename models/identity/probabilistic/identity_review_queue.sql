{#-
    The pairs a person should look at: scored between the review and accept thresholds (or above
    the accept threshold while the guard refuses it), or held because they would join a rejected
    pair through a third record; not yet decided, and not already one customer through other links. Decide with `tessera review accept|reject <pair_id>`.
-#}
with

links as (
    select * from {{ ref('int_identity__probabilistic_links') }}
),

pairs as (
    select * from {{ ref('int_identity__match_pairs') }}
),

person_records as (
    select * from {{ ref('int_identity__person_records') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

final as (
    select
        links.pair_id,
        customer_l.customer_id as customer_id_l,
        customer_r.customer_id as customer_id_r,
        links.unique_id_l,
        links.unique_id_r,
        case
            when links.link_status = 'held'
                then
                    'would link on its own, but it would join the records of a pair a reviewer rejected'
            when
                links.match_probability
                < {{ var('identity_match_accept_threshold') }}
                then 'between the review and accept thresholds'
            when
                links.bridges_refused_pair
                then
                    'probable, but with another link of this record it would'
                    || ' join two records the guard keeps apart'
            when
                not links.names_compatible
                then
                    'probable, but the guard refuses it: different first names'
                    || ' without the same date of birth or but for a typo (a'
                    || ' household), dates of birth a generation apart (a parent'
                    || ' and a child), or different phones'
            else 'probable, but only the name and email agree'
        end as review_reason,
        coalesce(
            record_l.first_name || ' ' || record_l.last_name,
            record_l.first_name,
            record_l.last_name,
            record_l.full_name
        ) as name_l,
        coalesce(
            record_r.first_name || ' ' || record_r.last_name,
            record_r.first_name,
            record_r.last_name,
            record_r.full_name
        ) as name_r,
        record_l.email as email_l,
        record_r.email as email_r,
        record_l.phone as phone_l,
        record_r.phone as phone_r,
        record_l.street || ', ' || record_l.postcode as address_l,
        record_r.street || ', ' || record_r.postcode as address_r,
        links.match_probability,
        links.match_weight,
        record_l.date_of_birth as date_of_birth_l,
        record_r.date_of_birth as date_of_birth_r
    from links
    inner join pairs
        on links.pair_id = pairs.pair_id
    inner join person_records as record_l
        on
            pairs.source_name_l = record_l.source_name
            and pairs.table_name_l = record_l.table_name
            and pairs.record_id_l = record_l.record_id
    inner join person_records as record_r
        on
            pairs.source_name_r = record_r.source_name
            and pairs.table_name_r = record_r.table_name
            and pairs.record_id_r = record_r.record_id
    left join record_customers as customer_l
        on
            pairs.source_name_l = customer_l.source_name
            and pairs.table_name_l = customer_l.table_name
            and pairs.record_id_l = customer_l.record_id
    left join record_customers as customer_r
        on
            pairs.source_name_r = customer_r.source_name
            and pairs.table_name_r = customer_r.table_name
            and pairs.record_id_r = customer_r.record_id
    where
        links.link_status in ('review', 'held')
        and coalesce(customer_l.customer_id, '')
        <> coalesce(customer_r.customer_id, '-')
)

select * from final
