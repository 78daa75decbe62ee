"""Plain-text tables for the terminal (the run summary, the registry listing) and the
registry decision as markdown for the Prefect UI."""

from tasks.common.metrics import describe
from tasks.common.registry import registered_at


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def stage_time(seconds: float, waited: float) -> str:
    """A stage's own run time, then any time it waited for other domains' stages."""
    return f"{seconds:.1f}s" + (f", waited {waited:.1f}s" if waited >= 0.05 else "")


def summary_table(rows: list[dict]) -> str:
    return table(
        ["domain", "stages (own time, and any wait for others)", "key metrics", "version", "alias"],
        [
            [
                r["domain"],
                " ".join(
                    f"{step}:{outcome}({stage_time(r['seconds'][step], r['waited'][step])})"
                    for step, outcome in r["stages"].items()
                ),
                describe(r["metrics"]),
                r["version"],
                ",".join(r["aliases"]) or ("-" if r["gate_passed"] else "- (gate failed)"),
            ]
            for r in rows
        ],
    )


def models_table(registries: list) -> str:
    """Every version of each domain's registered model, oldest first."""
    rows = []
    for registry in registries:
        for version in registry.versions():
            v = registry.describe(version)
            rows.append(
                [
                    registry.domain,
                    str(v["version"]),
                    registered_at(version),
                    describe(v["metrics"]),
                    (v["data_hash"] or "-")[:12],
                    "passed" if v["gate"]["passed"] else "failed",
                    ",".join(v["aliases"]) or "-",
                ]
            )
    if not rows:
        return "no registered models yet: run `verticals run` or `dvc repro`"
    return table(["domain", "version", "date", "key metrics", "data hash", "gate", "alias"], rows)


def decision_markdown(domain: str, decision: dict, plots: list[str], page: str | None) -> str:
    """The registry's decision for one run: version, promotion, the gate's reasons, plots, and
    a link to the version's page (its model card) in the MLflow UI."""
    promoted = "production" in decision["aliases"]
    gate = "passed" if decision["gate"]["passed"] else "failed"
    where = f"[in the MLflow UI]({page})" if page else "with `make mlflow` (the embedded registry)"
    lines = [
        f"# {domain} version {decision['version']}: "
        + ("promoted to production" if promoted else "not promoted"),
        "",
        f"Its model card and files: {where}.",
        "",
        f"Gate {gate}:",
        "",
        *(f"- {reason}" for reason in decision["gate"]["reasons"]),
        "",
        "Plots (`dvc plots show`): " + ", ".join(f"`{p}`" for p in plots),
    ]
    return "\n".join(lines) + "\n"
