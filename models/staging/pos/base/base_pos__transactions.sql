with

source as (
    select * from {{ source('pos', 'transactions') }}
),

renamed as (
    select
        transaction_id,
        store_id,
        nullif(
            upper({{ tessera.regexp_replace_all('loyalty_card_number', "'[^0-9A-Za-z]'", "''") }}),
            ''
        ) as loyalty_card_number,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone') }} as phone,
        upper(currency) as currency_code,
        cast(amount as {{ dbt.type_numeric() }}) as amount,
        cast(item_count as {{ dbt.type_int() }}) as item_count,
        {{ tessera.try_cast_timestamp('transacted_at') }} as transacted_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('loyalty_card', 'loyalty_card_number') }}
            as is_junk_loyalty_card,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('loyalty_card', 'loyalty_card_number'), ('phone', 'phone')]),
            ("transaction_id is null", "missing primary key"),
            ("store_id is null", "missing store_id"),
            ("transacted_at is null", "bad or missing transacted_at"),
            ("not " ~ tessera.is_plausible_timestamp("transacted_at"), "transacted_at out of range"),
            ("amount is null", "missing amount"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
