"""Plain-text tables for the terminal (the run summary, the registry listing) and the
registry decision as markdown for the Prefect UI."""

from tasks.common.paths import DomainPaths
from tasks.common.registry import Registry


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def fmt_metrics(metrics: dict) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in metrics.items())


def summary_table(rows: list[dict]) -> str:
    return table(
        ["domain", "stages", "key metrics", "version", "alias"],
        [
            [
                r["domain"],
                " ".join(
                    f"{step}:{outcome}({r['seconds'][step]:.1f}s)"
                    for step, outcome in r["stages"].items()
                ),
                fmt_metrics(r["metrics"]),
                r["version"],
                ",".join(r["aliases"]) or ("-" if r["gate_passed"] else "- (gate failed)"),
            ]
            for r in rows
        ],
    )


def models_table(domains: list[DomainPaths]) -> str:
    rows = []
    for paths in domains:
        registry = Registry(paths.registry)
        aliases = registry.aliases()
        for v in registry.versions():
            shown = {k: v["metrics"][k] for k in v["key_metrics"]}
            rows.append(
                [
                    paths.domain,
                    v["version"],
                    v["registered_at"],
                    fmt_metrics(shown),
                    v["data_hash"][:12],
                    ",".join(a for a, ver in aliases.items() if ver == v["version"]) or "-",
                ]
            )
    if not rows:
        return "no registered models yet: run `verticals run` or `dvc repro`"
    return table(["domain", "version", "date", "key metrics", "data hash", "alias"], rows)


def decision_markdown(domain: str, decision: dict, plots: list[str]) -> str:
    """The registry's decision for one run: version, promotion, the gate's reasons, plots."""
    promoted = "production" in decision["aliases"]
    gate = "passed" if decision["gate"]["passed"] else "failed"
    lines = [
        f"# {domain} {decision['version']}: "
        + ("promoted to production" if promoted else "not promoted"),
        "",
        f"Gate {gate}:",
        "",
        *(f"- {reason}" for reason in decision["gate"]["reasons"]),
        "",
        "Plots (`dvc plots show`): " + ", ".join(f"`{p}`" for p in plots),
    ]
    return "\n".join(lines) + "\n"
