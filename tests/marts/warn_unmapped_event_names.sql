{{ config(severity='warn') }}
{#- Warns while some raw event names are not in the alias map (seed event_aliases): returns
    the rows of rpt_unmapped_event_names. Map each one in seeds/event_aliases.csv (or accept
    its snake_case fallback name) to silence it. -#}
select * from {{ ref('rpt_unmapped_event_names') }}
