"""Top-K unseen items per user from a registered model, with the original user and item ids."""

import argparse
from pathlib import Path

from tasks.common.io import atomic_path
from tasks.common.paths import DomainPaths
from tasks.common.registry import open_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--users",
        help="comma-separated original user ids (default: every user the model knows)",
    )
    parser.add_argument("--k", type=int, default=10, help="items per user (default: 10)")


def main(paths: DomainPaths, args: argparse.Namespace) -> str:
    from tasks.recsys.recommend import predict  # torch loads only when predicting

    folder, _ = open_registry(paths).fetch(args.model)
    recs = predict(folder, args.users, args.k)
    with atomic_path(Path(args.output)) as tmp:
        recs.to_parquet(tmp, index=False)
    return f"wrote {len(recs)} recommendations for {recs.user.nunique()} users -> {args.output}"
