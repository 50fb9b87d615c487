-- Consent at send: for every record a sync delivered, the consent row that justified it and whether
-- that row was a grant for the sync's purpose, for this customer, valid at the moment of sending
-- (valid_from <= sent_at < valid_to). One row per delivered record.
--
-- Run it in DuckDB with both published files attached read-only:
--   attach 'warehouse/tessera.duckdb' as warehouse (read_only);
--   attach 'warehouse/sync_history.duckdb' as sync_history (read_only);
-- `$customer_keyed_syncs` is the list of syncs whose record key is a customer_id (every Tessera
-- sync_ model); for those the consent row must belong to that customer (or to the customer it was
-- merged into). Replace it with e.g. ['customer_export'] when running this by hand.
with

record_log as (
    select * from sync_history.main.sync_record_log
),

consent_history as (
    select * from warehouse.main.consent_history
),

customer_id_history as (
    select * from warehouse.main.customer_id_history
),

-- Deliveries only: a confirmed send of data (not a delete or an audience removal, which need no
-- consent, and not a failed or invalid record, which delivered nothing).
sends as (
    select
        sync_name,
        run_id,
        key as record_key,
        operation,
        consent_basis,
        logged_at as sent_at,
        split_part(consent_basis, ':', 1) as basis_kind,
        nullif(split_part(consent_basis, ':', 2), '') as consent_purpose,
        nullif(regexp_extract(consent_basis, '^[^:]*:[^:]*:(.*)$', 1), '') as consent_row_id
    from record_log
    where status = 'succeeded'
        and operation not in ('delete', 'remove')
),

merged_into as (
    select distinct old_customer_id, new_customer_id
    from customer_id_history
    where change_kind = 'merge'
),

judged as (
    select
        sends.sent_at,
        sends.sync_name,
        sends.run_id,
        sends.record_key,
        sends.operation,
        sends.consent_basis,
        sends.consent_purpose,
        sends.consent_row_id,
        consent_history.customer_id as consent_customer_id,
        consent_history.consent_purpose as consent_row_purpose,
        consent_history.consent_status as consent_row_status,
        consent_history.consent_source as consent_row_source,
        consent_history.valid_from as consent_valid_from,
        consent_history.valid_to as consent_valid_to,
        sends.basis_kind = 'not_required' as is_consent_not_required,
        consent_history.consent_event_id is not null as is_consent_row_found,
        coalesce(
            consent_history.consent_status = 'granted'
            and consent_history.consent_purpose = sends.consent_purpose,
            false
        ) as is_grant_for_purpose,
        coalesce(
            consent_history.valid_from <= sends.sent_at
            and (consent_history.valid_to is null or sends.sent_at < consent_history.valid_to),
            false
        ) as is_valid_at_sent_at,
        case
            when not list_contains($customer_keyed_syncs, sends.sync_name) then true
            when consent_history.customer_id = sends.record_key then true
            when merged_into.new_customer_id is not null then true
            else false
        end as is_same_customer
    from sends
    left join consent_history
        on sends.consent_row_id = consent_history.consent_event_id
    left join merged_into
        on sends.record_key = merged_into.old_customer_id
        and consent_history.customer_id = merged_into.new_customer_id
),

final as (
    select
        *,
        is_consent_not_required
            or (is_grant_for_purpose and is_valid_at_sent_at and is_same_customer) as is_consent_valid,
        case
            when is_consent_not_required then 'the sync requires no consent'
            when basis_kind_ok is false then 'no grant recorded with the send'
            when consent_row_id is null then 'no consent row recorded with the send'
            when not is_consent_row_found then 'consent row not found in consent_history'
            when consent_row_purpose <> consent_purpose then 'consent row is for another purpose'
            when consent_row_status <> 'granted' then 'consent row is not a grant (' || consent_row_status || ')'
            when not is_same_customer then 'consent row belongs to another customer'
            when sent_at < consent_valid_from then 'sent before the grant was given'
            when not is_valid_at_sent_at then 'sent after the grant was replaced'
            else 'valid'
        end as verdict
    from (
        select *, split_part(consent_basis, ':', 1) = 'granted' as basis_kind_ok
        from judged
    )
)

select
    sent_at,
    sync_name,
    run_id,
    record_key,
    operation,
    consent_basis,
    consent_purpose,
    consent_row_id,
    consent_customer_id,
    consent_row_status,
    consent_row_source,
    consent_valid_from,
    consent_valid_to,
    is_grant_for_purpose,
    is_valid_at_sent_at,
    is_consent_valid,
    not is_consent_valid as is_sent_without_valid_consent,
    verdict
from final
