"""Project quality gate on dbt's manifest.json: documentation, keys, contracts and layering.

Usage::

    dbt parse --target duckdb
    python -m llm_product_analytics.manifest_check target/manifest.json [--catalog catalog.json]

Prints one line per violation, `<rule>: <node>: <message>`, and exits 1 when there is any
(0 when clean, 2 on a bad command line). Only this project's own nodes are checked (not
dbt-core's or a package's); disabled nodes are skipped, so a manifest parsed for DuckDB checks
the Python experiment model and one parsed for PostgreSQL its SQL twin. The rules:

description
    Every model, seed and source table has a description, and so does every source.

column-description
    Every model, seed and source table documents at least one column, and every documented
    column has a description. With `--catalog` (from `dbt docs generate`) a column that exists
    in the built relation but is missing from the yml is a violation too
    (`undocumented-column`): without it only documented columns can be seen.

primary-key
    Every model and seed has a primary key tested by `unique` and `not_null` tests that cover
    the whole table (no `where` config) and fail the build (severity error). How the key is
    recognised, first match wins:

    1. `meta: {primary_key: <column or list>}` in the node's config, when set;
    2. the node's first documented column, when it has a `unique` test (the project's
       convention: the key comes first, e.g. `event_id`, `daily_kpi_id`);
    3. a `unique_combination_of_columns` test that includes the first column: the key is that
       composite (the smallest such test), e.g. `experiment_id, variant`;
    4. otherwise the first column, and its missing `unique` test is reported.

    A single-column key needs `unique` + `not_null` on the column. A composite key needs a
    `unique_combination_of_columns` test over exactly its columns plus `not_null` on each,
    except the columns listed in the node's `meta: {nullable_key_columns: [...]}` (a null that
    means "any", like the alias map's empty `platform`; the combination test counts a null as
    a value, so uniqueness still holds). Exempt: source tables (raw landing files, duplicates
    included by design; keys are enforced in staging) and the `base_*` models in a `base/`
    folder (every raw row, exact duplicates included, so there is no key by design;
    tests/assert_base_models_keep_every_source_row.sql proves their row counts instead).

contract
    Every `access: public` model has `contract: {enforced: true}` and a `data_type` on every
    column, and only marts (models/marts/, python_models/) may be public. Marts that are not
    public are deliberate: review lists (rpt_identity_conflicts, rpt_unmapped_event_names),
    the audit report (rpt_source_reconciliation) and rpt_experiment_results, which is a Python
    model on DuckDB (dbt cannot contract Python models) with a same-name SQL twin enabled on
    PostgreSQL that shares its yml entry, so it stays protected on both.

source-ref
    Only models under models/staging/ call `source()`; everything else reads `ref()`.

exposure
    Every exposure has a description, a maturity, an owner with a name and an email, and
    depends on at least one model; each of its dependencies is an enabled model of this
    project.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROJECT = "llm_product_analytics"
STAGING_PATH = "models/staging/"
MART_PATHS = ("models/marts/", "python_models/")
KEY_TESTS = ("unique", "not_null", "unique_combination_of_columns")


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.node}: {self.message}"


def _config(node: dict) -> dict:
    return node.get("config") or {}


def _meta(node: dict) -> dict:
    return {**(node.get("meta") or {}), **(_config(node).get("meta") or {})}


def _own(nodes: Iterable[dict], *resource_types: str) -> list[dict]:
    return sorted(
        (
            n
            for n in nodes
            if n.get("package_name") == PROJECT
            and n.get("resource_type") in resource_types
            and _config(n).get("enabled", True) is not False
        ),
        key=lambda n: n["unique_id"],
    )


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _key_tests(manifest: dict) -> dict[str, dict[str, list]]:
    """Per node: `unique` / `not_null` columns and `unique_combination_of_columns` column sets
    of the tests that cover the whole table and fail the build."""
    found: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for test in manifest["nodes"].values():
        if test.get("resource_type") != "test":
            continue
        metadata = test.get("test_metadata") or {}
        name = metadata.get("name")
        config = _config(test)
        if (
            name not in KEY_TESTS
            or config.get("where")
            or str(config.get("severity", "error")).lower() != "error"
            or config.get("enabled", True) is False
        ):
            continue
        attached = test.get("attached_node") or next(iter(test["depends_on"]["nodes"]), None)
        if attached is None:
            continue
        if name == "unique_combination_of_columns":
            kwargs = metadata.get("kwargs") or {}
            columns = kwargs.get("combination_of_columns") or []
            found[attached][name].append(frozenset(c.lower() for c in columns))
        elif test.get("column_name"):
            found[attached][name].append(test["column_name"].lower())
    return found


def _primary_key(node: dict, tests: dict[str, list]) -> list[str]:
    declared = _as_list(_meta(node).get("primary_key"))
    if declared:
        return [c.lower() for c in declared]
    first = next(iter(node["columns"]), None)
    if first is None:
        return []
    first = first.lower()
    if first in tests["unique"]:
        return [first]
    composites = [c for c in tests["unique_combination_of_columns"] if first in c]
    if composites:
        smallest = min(composites, key=lambda c: (len(c), sorted(c)))
        ordered = [c.lower() for c in node["columns"] if c.lower() in smallest]
        return ordered + sorted(smallest.difference(ordered))
    return [first]


def _check_primary_key(node: dict, tests: dict[str, list]) -> list[Violation]:
    uid = node["unique_id"]
    key = _primary_key(node, tests)
    if not key:
        return [Violation("primary-key", uid, "no columns documented, so no primary key")]
    out = []
    if len(key) == 1:
        (column,) = key
        for test_name in ("unique", "not_null"):
            if column not in tests[test_name]:
                out.append(
                    Violation("primary-key", uid, f"primary key `{column}` has no {test_name} test")
                )
        return out
    if frozenset(key) not in tests["unique_combination_of_columns"]:
        out.append(
            Violation(
                "primary-key",
                uid,
                f"composite primary key ({', '.join(key)}) has no unique_combination_of_columns"
                " test over exactly those columns",
            )
        )
    nullable = {c.lower() for c in _as_list(_meta(node).get("nullable_key_columns"))}
    for column in key:
        if column not in tests["not_null"] and column not in nullable:
            out.append(
                Violation(
                    "primary-key",
                    uid,
                    f"primary key column `{column}` has no not_null test"
                    " (or list it in meta.nullable_key_columns)",
                )
            )
    return out


def _check_descriptions(node: dict) -> list[Violation]:
    uid = node["unique_id"]
    out = []
    if not (node.get("description") or "").strip():
        out.append(Violation("description", uid, f"{node['resource_type']} has no description"))
    if not node["columns"]:
        out.append(Violation("column-description", uid, "no columns documented"))
    for name, column in node["columns"].items():
        if not (column.get("description") or "").strip():
            out.append(Violation("column-description", uid, f"column `{name}` has no description"))
    return out


def _is_mart(node: dict) -> bool:
    return node["original_file_path"].startswith(MART_PATHS)


def _check_contract(node: dict) -> list[Violation]:
    uid = node["unique_id"]
    config = _config(node)
    if (config.get("access") or node.get("access")) != "public":
        return []
    out = []
    if not _is_mart(node):
        out.append(Violation("contract", uid, "public model outside models/marts/"))
    if not (config.get("contract") or {}).get("enforced"):
        out.append(Violation("contract", uid, "public model without an enforced contract"))
    else:
        for name, column in node["columns"].items():
            if not column.get("data_type"):
                out.append(
                    Violation("contract", uid, f"contracted column `{name}` has no data_type")
                )
    return out


def _check_source_refs(node: dict) -> list[Violation]:
    if not node.get("sources") or node["original_file_path"].startswith(STAGING_PATH):
        return []
    names = ", ".join(".".join(s) for s in node["sources"])
    return [Violation("source-ref", node["unique_id"], f"source() outside models/staging: {names}")]


def _check_exposure(exposure: dict, models: set[str]) -> list[Violation]:
    uid = exposure["unique_id"]
    out = []
    owner = exposure.get("owner") or {}
    if not (exposure.get("description") or "").strip():
        out.append(Violation("exposure", uid, "exposure has no description"))
    if not exposure.get("maturity"):
        out.append(Violation("exposure", uid, "exposure has no maturity"))
    if not owner.get("name") or not owner.get("email"):
        out.append(Violation("exposure", uid, "exposure owner needs a name and an email"))
    depends_on = exposure.get("depends_on", {}).get("nodes") or []
    if not depends_on:
        out.append(Violation("exposure", uid, "exposure depends on nothing"))
    for dep in depends_on:
        if dep not in models:
            out.append(Violation("exposure", uid, f"depends on `{dep}`, not a model of {PROJECT}"))
    return out


def _check_catalog(nodes: list[dict], catalog: dict) -> list[Violation]:
    relations = {**catalog.get("nodes", {}), **catalog.get("sources", {})}
    out = []
    for node in nodes:
        relation = relations.get(node["unique_id"])
        if relation is None:
            continue
        documented = {c.lower() for c in node["columns"]}
        for name in relation.get("columns", {}):
            if name.lower() not in documented:
                out.append(
                    Violation(
                        "undocumented-column",
                        node["unique_id"],
                        f"column `{name.lower()}` is in the relation but not in the yml",
                    )
                )
    return out


def check_manifest(manifest: dict, catalog: dict | None = None) -> list[Violation]:
    """Every violation of the rules in the module docstring, sorted."""
    models = _own(manifest["nodes"].values(), "model")
    seeds = _own(manifest["nodes"].values(), "seed")
    sources = _own(manifest.get("sources", {}).values(), "source")
    exposures = _own(manifest.get("exposures", {}).values(), "exposure")
    tests = _key_tests(manifest)
    out: list[Violation] = []

    for node in [*models, *seeds, *sources]:
        out += _check_descriptions(node)
    for source_name in sorted({s["source_name"] for s in sources}):
        described = any(
            (s.get("source_description") or "").strip()
            for s in sources
            if s["source_name"] == source_name
        )
        if not described:
            out.append(
                Violation(
                    "description", f"source.{PROJECT}.{source_name}", "source has no description"
                )
            )
    for node in [*models, *seeds]:
        if "/base/" in node["original_file_path"]:
            continue
        out += _check_primary_key(node, tests[node["unique_id"]])
    for node in models:
        out += _check_contract(node)
        out += _check_source_refs(node)
    model_ids = {m["unique_id"] for m in models}
    for exposure in exposures:
        out += _check_exposure(exposure, model_ids)
    if catalog is not None:
        out += _check_catalog([*models, *seeds, *sources], catalog)
    return sorted(set(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llm_product_analytics.manifest_check",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("manifest", type=Path, help="target/manifest.json from dbt parse")
    parser.add_argument(
        "--catalog", type=Path, help="target/catalog.json from dbt docs generate (optional)"
    )
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    catalog = json.loads(args.catalog.read_text()) if args.catalog else None
    violations = check_manifest(manifest, catalog)
    for violation in violations:
        print(violation)
    print(f"manifest check: {len(violations)} violation(s) in {args.manifest}", file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
