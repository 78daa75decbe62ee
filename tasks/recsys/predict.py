"""Top-K unseen items per user from a registered model, with the original user and item ids."""

import argparse
from pathlib import Path

from tasks.common.io import atomic_path
from tasks.common.paths import DomainPaths
from tasks.common.registry import open_registry

BATCH = 512  # users scored at once: bounds the (users x items) score matrix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--users",
        help="comma-separated original user ids (default: every user the model knows)",
    )
    parser.add_argument("--k", type=int, default=10, help="items per user (default: 10)")


def main(paths: DomainPaths, args: argparse.Namespace) -> str:
    import pandas as pd

    from tasks.recsys.predictor import Predictor, Query  # torch loads only when predicting

    predictor = Predictor.load(*open_registry(paths).fetch(args.model))
    wanted = args.users.split(",") if args.users else predictor.users_as_text.tolist()
    queries = [Query(user.strip(), args.k) for user in wanted if user.strip()]
    results = []
    for start in range(0, len(queries), BATCH):
        results += predictor.predict(queries[start : start + BATCH])
    recs = pd.DataFrame(
        [{"user": r["user"], **item} for r in results for item in r["items"]],
        columns=["user", "rank", "item", "score"],
    )
    with atomic_path(Path(args.output)) as tmp:
        recs.to_parquet(tmp, index=False)
    return f"wrote {len(recs)} recommendations for {recs.user.nunique()} users -> {args.output}"
