{#- Per funnel, breakdown value (plus an `(all)` row) and step: persons who reached the step,
    conversion from the first step and from the previous step, and the median and 90th
    percentile of seconds from the previous step. An open window (fct_funnel_progress
    .is_window_open) is neither a conversion nor a loss: such a person is left out of a step's
    denominators until they reach it. -#}
{{ lpa_funnel_report(ref('fct_funnel_progress'), ['breakdown']) }}
