import pandas as pd
import pytest

from tasks.common.errors import InputError
from tasks.text.ingest import IngestParams, TableFormat, load
from tasks.text.synthetic import REQUESTS, Synthetic, synthesize


def test_synthetic_tickets_are_seeded_and_share_their_vocabulary():
    a, b = synthesize(Synthetic(count=400)), synthesize(Synthetic(count=400))
    pd.testing.assert_frame_equal(a, b)
    assert not synthesize(Synthetic(count=400, seed=1)).equals(a)
    assert set(a.label) == set(REQUESTS)
    # "account" and "order" turn up in every class, so neither decides one
    for word in ("account", "order"):
        assert a[a.text.str.contains(word)].label.nunique() == len(REQUESTS)
    lengths = a.text.str.len()
    assert lengths.max() > 3 * lengths.median()  # a long tail: dynamic padding pays


def test_label_noise_relabels_a_few_tickets():
    clean, noisy = (synthesize(Synthetic(count=2000, label_noise=r)) for r in (0.0, 0.1))
    changed = (clean.label != noisy.label).mean()
    assert 0.03 < changed < 0.12  # a tenth relabelled, a quarter of those to their own class


@pytest.mark.parametrize(
    ("name", "content", "table", "columns"),
    [
        ("t.csv", 'text,label\nhello there,a\n"x, y",b\n', {}, {}),
        ("t.tsv", "body\tcat\nhello there\ta\nx, y\tb\n", {}, {"text": "body", "label": "cat"}),
        ("t.txt", "a\thello there\nb\tx, y\n", {"header": False}, {"text": 1, "label": 0}),
        (
            "t.jsonl",
            '{"text": "hello there", "label": "a"}\n{"text": "x, y", "label": "b"}\n',
            {},
            {},
        ),
        ("t.csv", "label;text\na;hello there\nb;x, y\n", {"separator": ";"}, {}),
    ],
)
def test_tables_are_read_with_their_columns_separator_and_header(
    tmp_path, name, content, table, columns
):
    (tmp_path / name).write_text(content)
    params = IngestParams(
        source=str(tmp_path / name),
        table=TableFormat(**table),
        columns=columns or {"text": "text", "label": "label"},
    )
    frame, skipped = load(params)
    assert frame.to_dict("list") == {"text": ["hello there", "x, y"], "label": ["a", "b"]}
    assert skipped == 0


def test_parquet_and_an_http_url(http_folder):
    folder, url = http_folder
    pd.DataFrame({"text": ["one", "two"], "label": [1, 2]}).to_parquet(folder / "t.parquet")
    frame, _ = load(IngestParams(source=f"{url}/t.parquet"))
    assert frame.label.tolist() == ["1", "2"]  # labels are names, whatever their type


def test_empty_texts_fail_or_are_skipped_and_counted(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nfine,a\n,b\n   ,a\nok,b\n")
    with pytest.raises(InputError, match=r"t.csv: row 2: empty text"):
        load(IngestParams(source=str(tmp_path / "t.csv")))
    frame, skipped = load(IngestParams(source=str(tmp_path / "t.csv"), empty_texts="skip"))
    assert frame.text.tolist() == ["fine", "ok"] and skipped == 2
    pd.DataFrame({"text": ["x", None, "y"], "label": ["a", "b", "b"]}).to_parquet(
        tmp_path / "t.parquet"
    )
    with pytest.raises(InputError, match="row 2: empty text"):
        load(IngestParams(source=str(tmp_path / "t.parquet")))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"text,category\nx,a\n", r"t.csv: missing column\(s\) 'label'; found text, category"),
        (b"text,label\nx,a\ny,a\n", r"t.csv: every row has label 'a'"),
        (b"text,label\nx,a\ny,\n", r"t.csv: row 2: missing label"),
        (b"text,label\nx,a\ny\xff\xfe,b\n", r"t.csv: row 2 \(line 3\): byte 0xff is not UTF-8"),
        (b"", r"t.csv: the file is empty"),
    ],
)
def test_bad_tables_name_the_file_and_row(tmp_path, raw, message):
    (tmp_path / "t.csv").write_bytes(raw)
    with pytest.raises(InputError, match=message):
        load(IngestParams(source=str(tmp_path / "t.csv")))


def test_a_bad_jsonl_line_and_an_unknown_format_are_named(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"text": "x", "label": "a"}\n{oops\n')
    with pytest.raises(InputError, match=r"t.jsonl: row 2: not a JSON object"):
        load(IngestParams(source=str(tmp_path / "t.jsonl")))
    with pytest.raises(InputError, match="unknown table format 'xlsx'"):
        load(IngestParams(source=str(tmp_path / "t.jsonl"), table=TableFormat(format="xlsx")))
