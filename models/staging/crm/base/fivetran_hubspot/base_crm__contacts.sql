{#-
    CRM contacts as Fivetran's HubSpot connector writes them (the
    fivetran_hubspot preset), into the same columns as the demo preset's
    base_crm__contacts. HubSpot keeps a contact's fields as properties, which
    the connector lands as `property_<internal name>` columns of `contact`.
    A contact HubSpot deleted (`_fivetran_deleted` or `is_deleted`), or merged
    into another one (its id is in the surviving contact's merged ids), is
    kept here and quarantined: counted, but never a live contact.
-#}
{{ config(
    enabled=tessera.source_preset('crm').preset == 'fivetran_hubspot',
    pre_hook=tessera.utc_session(),
) }}
{%- set cols = tessera.fivetran_table(
    'fivetran_hubspot', 'crm', 'contact', required=true,
    columns=['id', '_fivetran_synced']) -%}
{#- Each property column, or a typed null when the portal has no such
    property (the connector makes a column per property in use). -#}
{%- set p = {} -%}
{%- for name in [
    'firstname', 'lastname', 'email', 'phone', 'mobilephone', 'address',
    'city', 'zip', 'state', 'country', 'hs_country_region_code', 'jobtitle',
    'company', 'date_of_birth',
] -%}
    {%- do p.update({
        name: tessera.column_or_null('property_' ~ name, cols)}) -%}
{%- endfor -%}
{%- for name in ['createdate', 'lastmodifieddate', 'hs_lastmodifieddate'] -%}
    {%- do p.update({name: tessera.column_or_null(
        'property_' ~ name, cols, dbt.type_timestamp())}) -%}
{%- endfor -%}
{#- The ids merged into a contact: `hs_merged_object_ids` is "id;id", the
    older `hs_calculated_merged_vids` "id:epoch-ms;id:epoch-ms". -#}
{%- set merged = [] -%}
{%- for name in [
    'property_hs_merged_object_ids', 'property_hs_calculated_merged_vids',
] -%}
    {%- if cols is not none and name in cols -%}
        {%- do merged.append(name) -%}
    {%- endif -%}
{%- endfor -%}
{%- set text = dbt.type_string() -%}

with

source as (
    {% if cols is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ source('fivetran_hubspot', 'contact') }}
    {%- endif %}
),

contacts as (
    select
        cast(id as {{ text }}) as contact_id,
        {{ p.firstname }} as first_name,
        {{ p.lastname }} as last_name,
        {{ p.email }} as email,
        {#- The phone property, else the mobile one. -#}
        coalesce(nullif(trim({{ p.phone }}), ''), {{ p.mobilephone }})
            as phone,
        {{ p.address }} as street,
        {{ p.city }} as city,
        {{ p.zip }} as postcode,
        {{ p.state }} as region,
        {#- country is free text ("United Kingdom"); HubSpot derives the ISO
            code into hs_country_region_code. -#}
        coalesce(
            nullif(trim({{ p.hs_country_region_code }}), ''),
            case
                when length(trim({{ p.country }})) = 2
                    then trim({{ p.country }})
            end
        ) as country,
        {{ p.jobtitle }} as job_title,
        {{ p.company }} as company,
        cast({{ p.date_of_birth }} as {{ text }}) as date_of_birth,
        cast({{ p.createdate }} as timestamp) as created_at,
        cast(
            coalesce(
                {{ p.lastmodifieddate }},
                {{ p.hs_lastmodifieddate }},
                {{ p.createdate }}
            ) as timestamp
        ) as updated_at,
        cast(_fivetran_synced as timestamp) as loaded_at,
        {{ tessera.fivetran_soft_deleted(cols) }} as is_deleted
    from source
),

merged_lists as (
    {% if merged -%}
        select
            cast(id as {{ text }}) as surviving_contact_id,
            ';' || cast(coalesce({{ merged | join(', ') }}) as {{ text }})
            || ';' as merged_ids
        from source
        where
            coalesce({{ merged | join(', ') }}) is not null
            and not {{ tessera.fivetran_soft_deleted(cols) }}
    {%- else -%}
        select
            cast(null as {{ text }}) as surviving_contact_id,
            cast(null as {{ text }}) as merged_ids
        where 1 = 0
    {%- endif %}
),

merged_away as (
    select distinct contacts.contact_id
    from contacts
    inner join merged_lists
        on
            contacts.contact_id <> merged_lists.surviving_contact_id
            and (
                merged_lists.merged_ids
                like '%;' || contacts.contact_id || ';%'
                or merged_lists.merged_ids
                like '%;' || contacts.contact_id || ':%'
            )
),

flagged as (
    select
        contacts.*,
        merged_away.contact_id is not null as is_merged
    from contacts
    left join merged_away on contacts.contact_id = merged_away.contact_id
),

renamed as (
    select
        contact_id as crm_contact_id,
        {{ tessera.clean_text('first_name') }} as first_name,
        {{ tessera.clean_text('last_name') }} as last_name,
        {{ tessera.name_key('first_name') }} as first_name_key,
        {{ tessera.name_key('last_name') }} as last_name_key,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone', 'country') }} as phone,
        {{ tessera.clean_text('street') }} as street,
        {{ tessera.clean_text('city') }} as city,
        {{ tessera.normalize_postcode('postcode') }} as postcode,
        {{ tessera.clean_text('region') }} as region,
        upper(trim(country)) as country_code,
        {{ tessera.clean_text('job_title') }} as job_title,
        {{ tessera.clean_text('company') }} as company_name,
        {%- set birth = tessera.try_cast_timestamp('date_of_birth') %}
        cast({{ birth }} as date) as date_of_birth,
        {{ tessera.date_of_birth_issue(
            'date_of_birth', 'cast(' ~ birth ~ ' as date)') }}
            as date_of_birth_issue,
        created_at,
        updated_at,
        loaded_at,
        is_deleted,
        is_merged
    from flagged
),

final as (
    select
        crm_contact_id,
        first_name,
        last_name,
        first_name_key,
        last_name_key,
        email_raw,
        email,
        phone_raw,
        phone,
        street,
        city,
        postcode,
        region,
        country_code,
        job_title,
        company_name,
        date_of_birth,
        date_of_birth_issue,
        created_at,
        updated_at,
        loaded_at,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.email_issue('email') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([
                ('crm_contact_id', 'crm_contact_id'),
                ('email', 'email'),
                ('phone', 'phone'),
            ]),
            ("is_deleted", "deleted in source"),
            ("is_merged", "merged in source"),
            ("crm_contact_id is null", "missing primary key"),
            ("created_at is null", "bad or missing created_at"),
            ("updated_at is null", "bad or missing updated_at"),
            ("first_name is null and last_name is null and email is null"
                ~ " and phone is null", "no name and no contact details"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
