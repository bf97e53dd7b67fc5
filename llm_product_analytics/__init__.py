"""Helpers around the llm_product_analytics dbt project (everything that is not SQL)."""

__version__ = "0.1.0"
