"""Interactions in, one validated Parquet file out: `user, item, rating, timestamp`."""

import io
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from tasks.common.errors import InputError
from tasks.common.io import atomic_path
from tasks.common.limits import DEFAULT_LIMITS, Limits, load_limits
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.common.sources import read_source

COLUMNS = ("user", "item", "rating", "timestamp")
OUTPUT = "interactions.parquet"
SCORES = 2**20  # user-item scores the generator holds at once
# Fixed layouts of the MovieLens releases: (separator, header or None, source column names).
MOVIELENS = {
    "movielens-100k": ("\t", None, COLUMNS),
    "movielens-1m": ("::", None, COLUMNS),
    "movielens-csv": (",", 0, ("userId", "movieId", "rating", "timestamp")),
}


@dataclass(frozen=True)
class Synthetic:
    shape: str = "default"  # or movielens-100k: its item/user ratio, density, ratings, tail
    users: int = 1000
    items: int = 600
    factors: int = 8
    mean_interactions: int = 30
    taste: float = 2.5  # weight of latent taste against item popularity
    popularity_skew: float = 1.0  # Zipf exponent of the long tail
    seed: int = 0


# MovieLens-100K: 943 users, 1,682 items, 100,000 ratings (6.3% filled), ratings 1-5 with its
# histogram (6/11/27/34/21%), over seven months. `users` still sets the size.
ML100K_ITEMS_PER_USER, ML100K_DENSITY = 1682 / 943, 0.063
RATING_QUANTILES = {"default": [0.1, 0.3, 0.6, 0.85], "movielens-100k": [0.06, 0.17, 0.44, 0.78]}
SHAPES = tuple(RATING_QUANTILES)


def shaped(p: Synthetic) -> Synthetic:
    if p.shape not in SHAPES:
        raise InputError(
            f"recsys.ingest.synthetic.shape {p.shape!r} is unknown; choose from {', '.join(SHAPES)}"
        )
    if p.shape == "default":
        return p
    items = max(round(p.users * ML100K_ITEMS_PER_USER), 20)
    mean = max(round(ML100K_DENSITY * items), 20)
    return replace(p, items=items, mean_interactions=mean, popularity_skew=1.2)


@dataclass(frozen=True)
class IngestParams:
    source: str = "default"  # "default", or a local path or URL
    format: str = "auto"  # auto, movielens-100k, movielens-1m, movielens-csv, csv, parquet
    columns: dict[str, str] = field(default_factory=dict)  # our name -> the source's column
    synthetic: Synthetic = Synthetic()


def fork(rng: np.random.Generator, draws: int) -> np.random.Generator:
    """A copy of `rng` for its next `draws` 64-bit draws (one per Gumbel or uniform value), which
    `rng` skips: the two together draw what `rng` alone would, in turn, with the copy's values
    drawn a chunk at a time."""
    state = rng.bit_generator.state
    copy = np.random.Generator(np.random.PCG64())
    copy.bit_generator.state = state
    rng.bit_generator.advance(draws)
    kept = {k: state[k] for k in ("has_uint32", "uinteger")}  # advance drops a buffered half
    rng.bit_generator.state = {**rng.bit_generator.state, **kept}
    return copy


def taste_draws(
    logits: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each row draws counts[row] columns without replacement from softmax(logits[row]) (the
    Gumbel top-k trick): (row, column) of every draw."""
    order = np.argsort(-(logits + rng.gumbel(size=logits.shape)), axis=1)
    rows, rank = np.nonzero(np.arange(logits.shape[1])[None, :] < counts[:, None])
    return rows, order[rows, rank]


def synthesize(p: Synthetic) -> pd.DataFrame:
    """Implicit feedback with latent tastes and a long-tail popularity, so NCF beats popularity.

    Each user draws a few dozen items without replacement from softmax(taste * u.v + log pop),
    SCORES user-item scores at a time, so memory does not grow with the number of users.
    """
    p = shaped(p)
    rng = np.random.default_rng(p.seed)
    users = rng.normal(size=(p.users, p.factors)) / np.sqrt(p.factors)
    items = rng.normal(size=(p.items, p.factors))
    log_pop = -p.popularity_skew * np.log(rng.permutation(p.items) + 1.0)
    noise = fork(rng, p.users * p.items)  # every user-item pair's Gumbel noise, chunk by chunk
    counts = np.clip(rng.poisson(p.mean_interactions, p.users), 3, p.items - 1)
    step = max(1, SCORES // p.items)
    user_idx, item_idx, affinity = [], [], []
    for start in range(0, p.users, step):
        logits = p.taste * users[start : start + step] @ items.T + log_pop
        rows, cols = taste_draws(logits, counts[start : start + step], noise)
        user_idx.append(rows + start)
        item_idx.append(cols)
        affinity.append(logits[rows, cols])
    user_idx, item_idx, affinity = map(np.concatenate, (user_idx, item_idx, affinity))
    rating = 1 + np.digitize(affinity, np.quantile(affinity, RATING_QUANTILES[p.shape]))
    spacing = 60 if p.shape == "default" else 180  # MovieLens-100K spans about seven months
    timestamp = 1_700_000_000 + rng.permutation(len(user_idx)) * spacing
    return pd.DataFrame(
        {
            "user": user_idx + 1,
            "item": item_idx + 1,
            "rating": rating.astype("float32"),
            "timestamp": timestamp.astype("int64"),
        }
    )


def detect_format(source: str, head: bytes) -> str:
    name = source.rsplit("/", 1)[-1].lower()
    if name.endswith(".data"):
        return "movielens-100k"
    if name.endswith(".dat"):
        return "movielens-1m"
    if name.endswith(".parquet"):
        return "parquet"
    if head.split(b"\n", 1)[0].startswith(b"userId,movieId"):
        return "movielens-csv"
    return "csv"


def parse(raw: bytes, fmt: str, columns: dict[str, str], source: str) -> pd.DataFrame:
    """Bytes of one supported format -> a frame with our column names (not yet validated)."""
    if not raw.strip():
        raise InputError(f"{source}: the file is empty")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        elif fmt in MOVIELENS:
            sep, header, names = MOVIELENS[fmt]
            if sep == "::":  # pandas' C parser takes one-character separators only
                raw, sep = raw.replace(b"::", b"\t"), "\t"
            frame = pd.read_csv(io.BytesIO(raw), sep=sep, header=header, dtype=str)
            frame.columns = names[: len(frame.columns)]
            columns = dict(zip(COLUMNS, names, strict=True))
        elif fmt == "csv":
            frame = pd.read_csv(io.BytesIO(raw), dtype=str)
        else:
            raise InputError(f"unknown recsys.ingest.format {fmt!r}")
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise InputError(f"{source}: cannot parse as {fmt}: {str(e).splitlines()[0]}") from e
    renames = {columns.get(c, c): c for c in COLUMNS}
    missing = [src for src in renames if src not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(str, frame.columns))}"
        )
    return frame.rename(columns=renames)[list(COLUMNS)]


def validate(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Typed, checked interactions, or an error naming the first bad row (1-based, data rows)."""
    if frame.empty:
        raise InputError(f"{source}: no interactions (0 data rows)")
    for col in ("user", "item"):
        blank = frame[col].isna()
        if blank.any():
            raise InputError(f"{source}: row {int(np.argmax(blank)) + 1}: empty {col} id")
    out = frame.copy()
    for col in ("rating", "timestamp"):
        numbers = pd.to_numeric(frame[col], errors="coerce")
        bad = numbers.isna()
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(
                f"{source}: row {row + 1}: {col} {frame[col].iloc[row]!r} is not a number"
            )
        out[col] = numbers
    out["rating"] = out["rating"].astype("float32")
    out["timestamp"] = out["timestamp"].astype("int64")
    for col in ("user", "item"):  # keep numeric ids numeric, so predictions map back exactly
        as_int = pd.to_numeric(out[col], errors="coerce")
        out[col] = as_int.astype("int64") if as_int.notna().all() else out[col].astype(str)
    return out.reset_index(drop=True)


def load(p: IngestParams, limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    if p.source == "default":
        return synthesize(p.synthetic)
    raw = read_source(p.source, limits)
    fmt = detect_format(p.source, raw[:200]) if p.format == "auto" else p.format
    return validate(parse(raw, fmt, p.columns, p.source), p.source)


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"ingest": IngestParams}


def run(paths: DomainPaths) -> None:
    frame = load(stage_params(paths.root, IngestParams, "recsys.ingest"), load_limits(paths.root))
    with atomic_path(paths.raw / OUTPUT) as tmp:
        frame.to_parquet(tmp, index=False)
    print(f"ingested {len(frame)} interactions -> {paths.raw / OUTPUT}")
