"""rpt_experiment_results on DuckDB: pandas + scipy through llm_product_analytics.experiments.

PostgreSQL builds the same table from models/marts/experiments/rpt_experiment_results.sql
(dbt-postgres cannot run Python models); the parity test compares the two.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from llm_product_analytics.experiments import compute_results

    return compute_results(
        summaries=dbt.ref("rpt_experiment_variant_summaries").df(),
        metrics=dbt.ref("dim_experiment_metrics").df(),
        variants=dbt.ref("dim_experiment_variants").df(),
        assignments=dbt.ref("fct_experiment_assignments").df(),
        person_metrics=dbt.ref("fct_experiment_person_metrics").df(),
    )
