import pandas as pd
import pytest

from tasks.common.errors import InputError
from tasks.recsys.ingest import IngestParams, Synthetic, detect_format, load, parse, synthesize

ML100K = b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n"
ML1M = b"1::1193::5::978300760\n1::661::3::978302109\n"
MLCSV = b"userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"


def test_synthetic_data_is_deterministic_and_long_tailed():
    p = Synthetic(users=200, items=100, seed=3)
    a, b = synthesize(p), synthesize(p)
    pd.testing.assert_frame_equal(a, b)
    assert not a.duplicated(["user", "item"]).any()
    counts = a.item.value_counts()
    assert counts.iloc[:10].sum() > 3 * counts.iloc[-10:].sum()  # a head and a long tail
    assert synthesize(Synthetic(users=200, items=100, seed=4)).ne(a).any().any()


def test_a_fork_and_its_stream_draw_what_one_generator_draws_in_turn():
    import numpy as np

    from tasks.recsys.ingest import fork

    one, two = np.random.default_rng(7), np.random.default_rng(7)
    expected = one.permutation(9), one.gumbel(size=(6, 4)), one.permutation(9), one.poisson(3, 4)
    first = two.permutation(9)  # leaves half of a 64-bit draw buffered, which fork keeps
    assert two.bit_generator.state["has_uint32"]
    noise = fork(two, 24)
    got = first, np.vstack([noise.gumbel(size=(3, 4)) for _ in range(2)]), two.permutation(9)
    for a, b in zip(expected, (*got, two.poisson(3, 4)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_generator_scores_a_few_users_at_a_time(monkeypatch):
    from tasks.recsys import ingest

    p = Synthetic(users=50, items=40, mean_interactions=10)
    monkeypatch.setattr(ingest, "SCORES", 40 * 7)  # 7 users a chunk, the last one of 1
    frame = synthesize(p)
    assert sorted(frame.user.unique()) == list(range(1, 51))
    assert not frame.duplicated(["user", "item"]).any()
    assert frame.groupby("user").size().min() >= 3 and frame.item.between(1, 40).all()
    assert synthesize(p).equals(frame)


@pytest.mark.parametrize(
    ("name", "raw", "fmt", "first"),
    [
        ("ml-100k/u.data", ML100K, "movielens-100k", (196, 242, 3.0, 881250949)),
        ("ml-1m/ratings.dat", ML1M, "movielens-1m", (1, 1193, 5.0, 978300760)),
        ("ml-latest/ratings.csv", MLCSV, "movielens-csv", (1, 31, 2.5, 1260759144)),
    ],
)
def test_movielens_formats_are_detected_and_read(tmp_path, name, raw, fmt, first):
    path = tmp_path / name
    path.parent.mkdir()
    path.write_bytes(raw)
    assert detect_format(str(path), raw) == fmt
    frame = load(IngestParams(source=str(path)))
    assert tuple(frame.iloc[0]) == first
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]


def test_generic_csv_and_parquet_with_renamed_columns(tmp_path):
    frame = pd.DataFrame(
        {"customer": ["c1", "c2"], "sku": ["s1", "s2"], "stars": [5, 4], "ts": [10, 20]}
    )
    frame.to_csv(tmp_path / "x.csv", index=False)
    frame.to_parquet(tmp_path / "x.parquet")
    columns = {"user": "customer", "item": "sku", "rating": "stars", "timestamp": "ts"}
    for name in ("x.csv", "x.parquet"):
        got = load(IngestParams(source=str(tmp_path / name), columns=columns))
        assert got.user.tolist() == ["c1", "c2"]
        assert got.rating.tolist() == [5.0, 4.0]


def test_a_file_url_goes_through_fsspec(tmp_path):
    (tmp_path / "u.data").write_bytes(ML100K)
    assert len(load(IngestParams(source=f"file://{tmp_path}/u.data"))) == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"user,item,timestamp\n1,2,3\n", r"x\.csv: missing column\(s\) 'rating'"),
        (
            b"user,item,rating,timestamp\n1,2,5,3\n1,3,great,4\n",
            "x.csv: row 2: rating 'great' is not a number",
        ),
        (b"", "x.csv: the file is empty"),
        (b"user,item,rating,timestamp\n", r"x\.csv: no interactions \(0 data rows\)"),
        (b"user,item,rating,timestamp\n1,,5,3\n", "x.csv: row 1: empty item id"),
    ],
)
def test_bad_files_name_the_file_and_row(tmp_path, raw, message):
    (tmp_path / "x.csv").write_bytes(raw)
    with pytest.raises(InputError, match=message):
        load(IngestParams(source=str(tmp_path / "x.csv")))


def test_unreadable_sources_are_named(tmp_path):
    with pytest.raises(InputError, match=f"cannot read {tmp_path}/missing.csv"):
        load(IngestParams(source=str(tmp_path / "missing.csv")))
    with pytest.raises(InputError, match="nosuchproto://x: protocol 'nosuchproto' is not allowed"):
        load(IngestParams(source="nosuchproto://x"))


def test_parse_refuses_an_unknown_format():
    with pytest.raises(InputError, match="unknown recsys.ingest.format 'xlsx'"):
        parse(b"a", "xlsx", {}, "f")


def test_an_http_url_is_read_and_a_missing_one_is_named(http_folder):
    folder, url = http_folder
    (folder / "u.data").write_bytes(ML100K)
    assert load(IngestParams(source=f"{url}/u.data")).user.tolist() == [196, 186]
    with pytest.raises(InputError, match=f"cannot read {url}/nothing.csv"):
        load(IngestParams(source=f"{url}/nothing.csv"))
