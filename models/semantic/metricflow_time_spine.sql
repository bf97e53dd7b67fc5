{#- MetricFlow's time spine: one row per day from var time_spine_start to var time_spine_end
    (inclusive; defaults 2020-01-01 .. 2035-12-31, wide enough for the sample data and a
    decade of real data). Built from the project's portable day offsets (a generate_series
    of numbers from dbt-core), so no query runs at compile time and it is the same on DuckDB
    and PostgreSQL. Declared as the time spine in _semantic__models.yml. -#}
{%- set spine_start = "cast('" ~ var('time_spine_start', '2020-01-01') ~ "' as date)" -%}
{%- set spine_end = "cast('" ~ var('time_spine_end', '2035-12-31') ~ "' as date)" -%}

with

day_offsets as (

    {{ lpa_day_offsets() }}

),

days as (

    select {{ lpa_add_days(spine_start, 'day_offsets.day_offset') }} as date_day

    from day_offsets

    where day_offsets.day_offset <= {{ lpa_days_between(spine_start, spine_end) }}

)

select * from days
