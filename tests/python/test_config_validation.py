"""Bad funnel configuration fails the build at compile time with a message that names the
funnel and the problem (no SQL is run)."""

from __future__ import annotations

import pytest

from dbt_harness import run_dbt

CASES = [
    ({"name": "f", "steps": ["a"], "conversion_window": {"seconds": 60}}, "needs 2 to 10 steps"),
    (
        {"name": "f", "steps": ["a", "b"], "conversion_window": {"seconds": 60}, "order": "sorted"},
        "order must be this_order, exact_order or any_order",
    ),
    ({"name": "f", "steps": ["a", "b"], "conversion_window": {"seconds": 0}}, "positive number"),
    (
        {"name": "f", "steps": ["a", "b"], "conversion_window": {"seconds": 60}, "breakdown": "x"},
        "breakdown 'x' is not one of",
    ),
    (
        {
            "name": "f",
            "steps": ["a", "b"],
            "conversion_window": {"seconds": 60},
            "exclusions": [{"event": "x", "between": [2, 1]}],
        },
        "an exclusion needs between: [i, j]",
    ),
    ({"name": "f", "steps": ["a", "a"], "conversion_window": {"seconds": 60}}, "same event"),
]


@pytest.mark.parametrize(("funnel", "message"), CASES)
def test_bad_funnel_config_fails_with_a_clear_message(funnel, message, tmp_path) -> None:
    result = run_dbt(
        ["compile", "--select", "int_funnel__attempts"],
        target="duckdb",
        raw_path=tmp_path,
        work_dir=tmp_path,
        extra_vars={"funnels": [funnel]},
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-2000:]
    assert "funnel 'f'" in result.stdout
