{#- Per funnel, entry date (the reporting date of the attempt's first step) and step: the same
    measures as rpt_funnel_conversion over the persons whose best attempt of that day it is,
    with is_window_complete when every window opened that day had closed by the end of the
    data. One person can enter on several days. -#}
{{ lpa_funnel_report(ref('int_funnel__daily_progress'), ['entry_date']) }}
