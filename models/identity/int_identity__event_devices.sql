{#-
    One identity record per distinct (anonymous_id, user_id) pair seen in tracks and pages: the
    graph needs to know that a device was used by a logged-in user, not every event it sent.
-#}
with

tracks as (
    select * from {{ ref('stg_events__tracks') }}
),

pages as (
    select * from {{ ref('stg_events__pages') }}
),

events as (
    select
        message_id,
        anonymous_id,
        user_id,
        occurred_at
    from tracks
    union all
    select
        message_id,
        anonymous_id,
        user_id,
        occurred_at
    from pages
),

final as (
    select
        min(message_id) as device_record_id,
        anonymous_id,
        user_id,
        count(*) as event_count,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at
    from events
    group by 2, 3
)

select * from final
