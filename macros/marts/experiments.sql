{#- Experiment and metric configuration (vars experiments, experiment_metrics), validated at
    compile time: a bad entry fails the build with a message naming the entry and the fix. -#}

{#- fct_events numeric columns a metric may sum; `properties.<key>` reads a client property. -#}
{% macro lpa_metric_value_columns() -%}
    {{ return(['input_tokens', 'output_tokens', 'total_tokens', 'latency_ms', 'cost',
               'rating', 'user_rating']) }}
{%- endmacro %}

{% macro lpa_experiment_fail(what, message) -%}
    {{ exceptions.raise_compiler_error(what ~ ": " ~ message) }}
{%- endmacro %}

{#- {event, value, where}: `value` null counts events; else sums the column or property. -#}
{% macro lpa_metric_measure(raw, what) -%}
    {%- if raw is string -%}
        {%- set raw = {'event': raw} -%}
    {%- endif -%}
    {%- if not (raw is mapping) or not raw.get('event') -%}
        {{ lpa_experiment_fail(what, "must be an event name or {event: name, value: column, where: sql}; got " ~ raw) }}
    {%- endif -%}
    {%- set value = raw.get('value') -%}
    {%- if value and value not in lpa_metric_value_columns() and not value.startswith('properties.') -%}
        {{ lpa_experiment_fail(what, "value '" ~ value ~ "' is not one of "
            ~ lpa_metric_value_columns() | join(', ') ~ " or properties.<key>") }}
    {%- endif -%}
    {{ return({'event': raw['event'], 'value': value, 'where': raw.get('where')}) }}
{%- endmacro %}

{% macro lpa_optional_positive(raw, key, what) -%}
    {%- set value = raw.get(key) -%}
    {%- if value is not none and (not (value is number) or value <= 0) -%}
        {{ lpa_experiment_fail(what, key ~ " must be a positive number or null; got " ~ value) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- name -> metric, from var experiment_metrics. -#}
{% macro lpa_experiment_metrics() -%}
    {%- set metrics = {} -%}
    {%- for raw in var('experiment_metrics', []) -%}
        {%- set name = raw.get('name') if raw is mapping else none -%}
        {%- if not name or not (name is string) -%}
            {{ lpa_experiment_fail("var experiment_metrics", "every metric needs a name; got " ~ raw) }}
        {%- endif -%}
        {%- set what = "metric '" ~ name ~ "'" -%}
        {%- if name in metrics -%}
            {{ lpa_experiment_fail(what, "the name is used twice") }}
        {%- endif -%}
        {%- set kind = raw.get('kind') -%}
        {%- if kind not in ['proportion', 'mean', 'ratio'] -%}
            {{ lpa_experiment_fail(what, "kind must be proportion, mean or ratio; got " ~ kind) }}
        {%- endif -%}
        {%- set numerator = lpa_metric_measure(raw.get('numerator'), what ~ " numerator") -%}
        {%- set denominator = raw.get('denominator') -%}
        {%- if kind == 'ratio' and denominator != 'sessions' -%}
            {%- set denominator = lpa_metric_measure(denominator, what ~ " denominator") -%}
        {%- elif kind != 'ratio' and denominator is not none -%}
            {{ lpa_experiment_fail(what, "only a ratio metric has a denominator") }}
        {%- endif -%}
        {%- if kind == 'proportion' and numerator.value -%}
            {{ lpa_experiment_fail(what, "a proportion counts persons with the event; drop `value`") }}
        {%- endif -%}
        {%- set pct = raw.get('winsorize_percentile') -%}
        {%- if pct is not none and (not (pct is number) or pct <= 0 or pct >= 1 or kind != 'mean') -%}
            {{ lpa_experiment_fail(what, "winsorize_percentile must be in (0, 1) and only on a mean metric; got " ~ pct) }}
        {%- endif -%}
        {%- set pre = lpa_optional_positive(raw, 'pre_window_days', what) -%}
        {%- if pre is not none and kind == 'ratio' -%}
            {{ lpa_experiment_fail(what, "CUPED (pre_window_days) is supported on mean and proportion metrics") }}
        {%- endif -%}
        {%- do metrics.update({name: {
            'name': name,
            'kind': kind,
            'description': raw.get('description') or '',
            'numerator': numerator,
            'denominator': denominator,
            'window_days': lpa_optional_positive(raw, 'window_days', what),
            'pre_window_days': pre,
            'winsorize_percentile': pct,
            'higher_is_better': raw.get('higher_is_better', true)
        }}) -%}
    {%- endfor -%}
    {{ return(metrics) }}
{%- endmacro %}

{#- Variants as [{name, weight, prompt_version_id}] from a list or a {name: weight} map. -#}
{% macro lpa_experiment_variants(raw, what) -%}
    {%- set variants = [] -%}
    {%- set given = raw.get('variants') -%}
    {%- if given is mapping -%}
        {%- for name, weight in given.items() -%}
            {%- do variants.append({'name': name, 'weight': weight, 'prompt_version_id': none}) -%}
        {%- endfor -%}
    {%- elif given is iterable and given is not string -%}
        {%- for v in given -%}
            {%- if not (v is mapping) or not v.get('name') -%}
                {{ lpa_experiment_fail(what, "each variant needs a name; got " ~ v) }}
            {%- endif -%}
            {%- do variants.append({'name': v['name'], 'weight': v.get('weight'),
                                    'prompt_version_id': v.get('prompt_version_id')}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if variants | length < 2 -%}
        {{ lpa_experiment_fail(what, "needs at least 2 variants; got " ~ given) }}
    {%- endif -%}
    {%- for v in variants -%}
        {%- if not (v.weight is number) or v.weight <= 0 -%}
            {{ lpa_experiment_fail(what, "variant '" ~ v.name ~ "' needs a positive planned weight; got " ~ v.weight) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(variants) }}
{%- endmacro %}

{% macro lpa_experiments() -%}
    {%- set metrics = lpa_experiment_metrics() -%}
    {%- set experiments = [] -%}
    {%- set ids = [] -%}
    {%- for raw in var('experiments', []) -%}
        {%- set experiment_id = raw.get('experiment_id') if raw is mapping else none -%}
        {%- if not experiment_id or not (experiment_id is string) -%}
            {{ lpa_experiment_fail("var experiments", "every experiment needs an experiment_id; got " ~ raw) }}
        {%- endif -%}
        {%- set what = "experiment '" ~ experiment_id ~ "'" -%}
        {%- if experiment_id in ids -%}
            {{ lpa_experiment_fail(what, "the experiment_id is used twice") }}
        {%- endif -%}
        {%- do ids.append(experiment_id) -%}
        {%- set assignment = raw.get('assignment') or {} -%}
        {%- set source = assignment.get('source', 'exposure') -%}
        {%- if source not in ['exposure', 'user_property', 'dify_prompt_version'] -%}
            {{ lpa_experiment_fail(what, "assignment.source must be exposure, user_property or dify_prompt_version; got " ~ source) }}
        {%- endif -%}
        {%- if source == 'user_property' and not assignment.get('property') -%}
            {{ lpa_experiment_fail(what, "assignment.property (the Amplitude user property holding the variant) is required") }}
        {%- endif -%}
        {%- set variants = lpa_experiment_variants(raw, what) -%}
        {%- if source == 'dify_prompt_version' -%}
            {%- if not assignment.get('app_id') -%}
                {{ lpa_experiment_fail(what, "assignment.app_id (the Dify app) is required") }}
            {%- endif -%}
            {%- for v in variants if not v.prompt_version_id -%}
                {{ lpa_experiment_fail(what, "variant '" ~ v.name ~ "' needs a prompt_version_id (Dify app_model_config id)") }}
            {%- endfor -%}
        {%- endif -%}
        {%- set variant_names = variants | map(attribute='name') | list -%}
        {%- set control = raw.get('control') -%}
        {%- if control not in variant_names -%}
            {{ lpa_experiment_fail(what, "control variant '" ~ control ~ "' is not one of its variants "
                ~ variant_names | join(', ')) }}
        {%- endif -%}
        {%- set primary = raw.get('primary_metrics') or [] -%}
        {%- set guardrail = raw.get('guardrail_metrics') or [] -%}
        {%- if primary | length == 0 -%}
            {{ lpa_experiment_fail(what, "needs at least one primary metric") }}
        {%- endif -%}
        {%- for name in primary + guardrail if name not in metrics -%}
            {{ lpa_experiment_fail(what, "unknown metric '" ~ name ~ "'; defined metrics: "
                ~ metrics.keys() | sort | join(', ')) }}
        {%- endfor -%}
        {%- for name in guardrail if name in primary -%}
            {{ lpa_experiment_fail(what, "metric '" ~ name ~ "' is both primary and guardrail") }}
        {%- endfor -%}
        {%- set alpha = raw.get('alpha', 0.05) -%}
        {%- set power = raw.get('power', 0.8) -%}
        {%- set mde = raw.get('mde', 0.05) -%}
        {%- if not (alpha is number and 0 < alpha < 0.5 and power is number and 0 < power < 1 and mde is number and mde > 0) -%}
            {{ lpa_experiment_fail(what, "needs 0 < alpha < 0.5, 0 < power < 1 and mde > 0 (relative); got "
                ~ alpha ~ ", " ~ power ~ ", " ~ mde) }}
        {%- endif -%}
        {%- set correction = raw.get('correction', 'holm') -%}
        {%- if correction not in ['holm', 'benjamini_hochberg'] -%}
            {{ lpa_experiment_fail(what, "correction must be holm or benjamini_hochberg; got " ~ correction) }}
        {%- endif -%}
        {%- if not raw.get('start') -%}
            {{ lpa_experiment_fail(what, "start (first day, YYYY-MM-DD) is required") }}
        {%- endif -%}
        {%- set experiment_metrics = [] -%}
        {%- for name in primary + guardrail -%}
            {%- do experiment_metrics.append({'role': 'primary' if name in primary else 'guardrail',
                                              'metric': metrics[name]}) -%}
        {%- endfor -%}
        {%- do experiments.append({
            'experiment_id': experiment_id,
            'source': source,
            'flag_key': assignment.get('flag_key') or experiment_id,
            'property': assignment.get('property'),
            'app_id': assignment.get('app_id'),
            'variants': variants,
            'control': control,
            'start': raw.get('start') | string,
            'end': (raw.get('end') | string) if raw.get('end') else none,
            'hypothesis': raw.get('hypothesis') or '',
            'metrics': experiment_metrics,
            'alpha': alpha,
            'power': power,
            'mde': mde,
            'correction': correction
        }) -%}
    {%- endfor -%}
    {{ return(experiments) }}
{%- endmacro %}

{#- SQL string literal (or null). -#}
{% macro lpa_literal(value) -%}
    {%- if value is none -%}null{%- else -%}'{{ value | string | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}

{#- A reporting date within the experiment's start and end (both inclusive). -#}
{% macro lpa_experiment_dates(date_expr, exp) -%}
    {{ date_expr }} >= cast({{ lpa_literal(exp.start) }} as date)
    {%- if exp.end %} and {{ date_expr }} <= cast({{ lpa_literal(exp.end) }} as date){% endif %}
{%- endmacro %}

{#- An event matches a measure: its name and optional `where` (sql on fct_events columns). -#}
{% macro lpa_metric_match(measure) -%}
    event_name = {{ lpa_literal(measure.event) }}
    {%- if measure.where %} and ({{ measure.where }}){% endif %}
{%- endmacro %}

{#- What a matching event adds: 1 (a count), a numeric column, or a numeric property. -#}
{% macro lpa_metric_value(measure) -%}
    {%- if not measure.value -%}
        1
    {%- elif measure.value.startswith('properties.') -%}
        {{ lpa_to_double(lpa_json_text('parsed_properties', measure.value[11:])) }}
    {%- else -%}
        {{ measure.value }}
    {%- endif -%}
{%- endmacro %}

{#- [first exposure, first exposure + window_days), within the experiment's dates. -#}
{% macro lpa_metric_window(metric, exp) -%}
    metric_events.event_at >= assignments.first_exposure_at
    {%- if metric.window_days %}
    and metric_events.event_at < {{ dbt.dateadd('second', (metric.window_days * 86400) | int,
        'assignments.first_exposure_at') }}
    {%- endif %}
{%- endmacro %}

{#- [first exposure - pre_window_days, first exposure). -#}
{% macro lpa_metric_pre_window(metric) -%}
    metric_events.event_at < assignments.first_exposure_at
    and metric_events.event_at >= {{ dbt.dateadd('second', -(metric.pre_window_days * 86400) | int,
        'assignments.first_exposure_at') }}
{%- endmacro %}

{#- A person's value: 1/0 for a proportion (any matching event), else the sum (0 if none). -#}
{% macro lpa_metric_person_value(kind, column) -%}
    {%- if kind == 'proportion' -%}
        cast(case when coalesce({{ column }}, 0) > 0 then 1 else 0 end as double precision)
    {%- else -%}
        cast(coalesce({{ column }}, 0) as double precision)
    {%- endif -%}
{%- endmacro %}

{#- (x - mean x) * (y - mean y); null when either side is null (no pre-period, no ratio). -#}
{% macro lpa_centred_product(x, mean_x, y, mean_y) -%}
    ({{ x }} - {{ mean_x }}) * ({{ y }} - {{ mean_y }})
{%- endmacro %}

{#- Standard normal quantile of a compile-time probability p (Acklam's rational
    approximation, relative error < 1.2e-9): a literal in the central region, an ln/sqrt
    expression in the tails (Jinja has no logarithm). -#}
{% macro lpa_normal_quantile(p) -%}
    {%- set a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239] -%}
    {%- set b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572] -%}
    {%- set c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783] -%}
    {%- set d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416] -%}
    {%- if p > 0.02425 and p < 0.97575 -%}
        {%- set q = p - 0.5 -%}
        {%- set r = q * q -%}
        {%- set x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1) -%}
        {{- x -}}
    {%- else -%}
        {%- set tail = p if p <= 0.5 else 1 - p -%}
        {%- set q = 'sqrt(-2 * ln(' ~ tail ~ '))' -%}
        ({{ '-' if p > 0.5 }}(((((({{ c[0] }} * {{ q }} + {{ c[1] }}) * {{ q }} + {{ c[2] }}) * {{ q }} + {{ c[3] }}) * {{ q }} + {{ c[4] }}) * {{ q }} + {{ c[5] }})
        / (((({{ d[0] }} * {{ q }} + {{ d[1] }}) * {{ q }} + {{ d[2] }}) * {{ q }} + {{ d[3] }}) * {{ q }} + 1)))
    {%- endif -%}
{%- endmacro %}

{#- A number (or null) typed double precision, so union branches agree on PostgreSQL. -#}
{% macro lpa_double_literal(value) -%}
    cast({{ 'null' if value is none else value }} as double precision)
{%- endmacro %}

{#- An arm's metric value from rpt_experiment_variant_summaries columns (prefix: the
    relation alias and a dot, or empty): sum over sum for a ratio, else the mean. -#}
{% macro lpa_arm_value(prefix='') -%}
    case
        when {{ prefix }}metric_kind = 'ratio'
            then {{ prefix }}sum_value / nullif({{ prefix }}sum_denominator, 0)
        else {{ prefix }}mean_value
    end
{%- endmacro %}

{#- Per-person variance of a ratio arm by the delta method: the ddof-1 variance of the
    linearised y - R x, over mean(x)^2 (stats.ratio_variance times n). -#}
{% macro lpa_ratio_unit_variance(prefix='') -%}
    {%- set ratio = '(' ~ prefix ~ 'sum_value / nullif(' ~ prefix ~ 'sum_denominator, 0))' -%}
    (
        {{ prefix }}m2_value
        - 2 * {{ ratio }} * {{ prefix }}c_value_denominator
        + {{ ratio }} * {{ ratio }} * {{ prefix }}m2_denominator
    ) / nullif({{ prefix }}n - 1, 0)
    / nullif({{ prefix }}mean_denominator * {{ prefix }}mean_denominator, 0)
{%- endmacro %}
