"""Quality on real public data: `make bench-quality` or `python -m bench.quality [CASE...]`.

Each case runs one domain through `dvc repro` in a temporary clone, with only the params a user
would set for that dataset (the README lists them), and reads the metrics it wrote. The data
are read where they lie, in ../shared/realdata (never copied: licences); without that folder
the benchmark says so and writes nothing (VERTICALS_REALDATA names another folder). Writes
bench/QUALITY.md.
"""

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.machine import cpu_model
from flows.overrides import apply_overrides
from flows.report import table
from flows.repro import stage_env
from tasks.common.io import read_json
from tasks.common.paths import domain_paths
from tests.workspace import clone_workspace, commit_all

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("VERTICALS_REALDATA", REPO / ".." / "shared" / "realdata")).resolve()
REPORT = REPO / "bench" / "QUALITY.md"


@dataclass(frozen=True)
class Case:
    name: str
    domain: str
    params: tuple[str, ...]  # with {data} for the realdata folder
    metric: str
    target: float | None
    published: str


CASES = (
    Case(
        "MovieLens ml-latest-small",
        "recsys",
        ("recsys.ingest.source={data}/recsys/ml-latest-small/ratings.csv",),
        "hr_at_10",
        0.70,
        "NCF (He et al. 2017), ML-1M: NeuMF HR@10 ~0.73, GMF/MLP ~0.70 (denser set)",
    ),
    Case(
        "RetinaMNIST, any DR (grade >= 1)",
        "medical",
        (
            "medical.ingest.source={data}/medical/retinamnist/retinamnist.npz",
            "medical.ingest.positive_from=1",
            "medical.ingest.color=true",
            "medical.train.lr=0.0003",
            "medical.train.patience=10",
        ),
        "auc",
        0.80,
        "MedMNIST v2 5-grade task: ResNet-18 (28) AUC 0.717; no official binary figure",
    ),
    Case(
        "Brain MRI tumour yes/no",
        "medical",
        (
            "medical.ingest.source={data}/medical/brain_tumor_mri/brain_tumor_dataset",
            "medical.ingest.classes=[no, yes]",
        ),
        "auc",
        None,
        "none canonical; Kaggle notebooks report 80-90% accuracy",
    ),
    Case(
        "YouTube Spam Collection (5 files)",
        "text",
        (
            "text.ingest.source={data}/text/youtube-spam-collection/*.csv",
            "text.ingest.columns={text: CONTENT, label: CLASS}",
            "text.model.name_or_path=all-MiniLM-L6-v2",
        ),
        "accuracy",
        0.95,
        "TubeSpam (Alberto et al. 2015): best classifiers 90%+; classic spam filters ~0.985",
    ),
    Case(
        "Dogs vs. Cats, 400 photos",
        "vision",
        ("vision.ingest.source={data}/vision/cats_vs_dogs_subset",),
        "accuracy",
        0.90,
        "Chollet (2,000 photos): from scratch ~0.82, fine-tuned VGG16 ~0.97",
    ),
)


def run_case(case: Case, tmp: Path) -> dict:
    ws = clone_workspace(REPO, tmp / f"{case.domain}-{CASES.index(case)}")
    apply_overrides(ws, [p.replace("{data}", str(REALDATA)) for p in case.params])
    commit_all(ws, case.name)
    start = time.perf_counter()
    proc = subprocess.run(
        ["dvc", "repro", f"evaluate@{case.domain}"],
        cwd=ws,
        env=stage_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return {"ok": False, "seconds": seconds, "error": " ".join(tail)}
    return {
        "ok": True,
        "seconds": seconds,
        "metrics": read_json(domain_paths(case.domain, ws).metrics),
    }


def row(case: Case, result: dict) -> list[str]:
    params = "<br>".join(f"`{p.replace('{data}', '$REALDATA')}`" for p in case.params)
    if not result["ok"]:
        return [case.name, case.domain, params, "failed: " + result["error"], "", "", ""]
    m = result["metrics"]
    value = m[case.metric]
    verdict = "" if case.target is None else (" ✓" if value >= case.target else " ✗")
    target = "-" if case.target is None else f">= {case.target}"
    shown = f"{case.metric} {value:.3f}{verdict}"
    trained = f"best epoch {m.get('best_epoch')} of {m.get('epochs_run')}"
    return [case.name, case.domain, params, f"{shown}<br>{trained}", target, case.published,
            f"{result['seconds']:.0f}"]  # fmt: skip


def main(names: list[str]) -> int:
    if not REALDATA.is_dir():
        print(f"bench quality: skipped, no real data at {REALDATA}")
        return 0
    chosen = [c for c in CASES if not names or c.domain in names or c.name in names]
    rows = []
    with tempfile.TemporaryDirectory(prefix="verticals-quality-") as tmp:
        for case in chosen:
            result = run_case(case, Path(tmp))
            rows.append(row(case, result))
            print(" | ".join(rows[-1][:2] + rows[-1][3:4] + rows[-1][6:]), flush=True)
    header = ["dataset", "domain", "params (besides the defaults)", "ours", "target",
              "published", "seconds"]  # fmt: skip
    lines = [
        "# Quality on real public data",
        "",
        f"CPU: {cpu_model()}. Command: `make bench-quality` (`python -m bench.quality`). Each row",
        "is one cold `dvc repro evaluate@<domain>` in a fresh clone with the defaults and the",
        "params shown; `$REALDATA` is ../shared/realdata. Test-split metrics.",
        "The brain MRI set holds 22 groups of byte-identical files, which our split does not",
        "de-duplicate: its figure may be flattered by leakage.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]
    REPORT.write_text("\n".join(lines))
    print(table(["dataset", "ours"], [[r[0], r[3].replace("<br>", " ")] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
