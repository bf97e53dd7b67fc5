{#- Continuous percentile (linear interpolation between order statistics, the same definition
    on both adapters), as an aggregate. -#}
{% macro lpa_percentile(expr, fraction) -%}
    {{ return(adapter.dispatch('lpa_percentile')(expr, fraction)) }}
{%- endmacro %}

{% macro default__lpa_percentile(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}

{% macro postgres__lpa_percentile(expr, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expr }})
{%- endmacro %}
