"""`synthetic.shape`: generated data with the statistics of public benchmark sets, made tiny."""

import numpy as np
import pytest
from PIL import Image

from tasks.common.errors import InputError


def test_movielens_shape_has_its_ratio_density_ratings_and_long_tail():
    from tasks.recsys.ingest import Synthetic, synthesize

    frame = synthesize(Synthetic(shape="movielens-100k", users=200))
    users, items = frame.user.nunique(), frame.item.max()
    assert items / 200 == pytest.approx(1682 / 943, rel=0.01) and users == 200
    assert len(frame) / (200 * items) == pytest.approx(0.063, rel=0.1)
    share = frame.rating.value_counts(normalize=True).sort_index()
    assert list(share.index) == [1, 2, 3, 4, 5] and share[4] > share[3] > share[1]
    popularity = frame.item.value_counts().to_numpy()
    assert popularity[: len(popularity) // 10].sum() > 0.3 * len(frame)  # the head is heavy


def test_medmnist_shape_is_28_px_and_balanced():
    from tasks.medical.ingest import Synthetic, synthesize

    scans = synthesize(Synthetic(shape="medmnist", count=300))
    assert scans.images[0].shape == (28, 28)
    assert 0.25 <= scans.labels.mean() <= 0.75


def test_spam_shape_is_short_and_imbalanced():
    from tasks.text.synthetic import Synthetic, synthesize

    frame = synthesize(Synthetic(shape="spam", count=1000))
    assert set(frame.label) == {"ham", "spam"}
    assert (frame.label == "spam").mean() == pytest.approx(0.13, abs=0.03)
    assert frame.text.str.split().str.len().median() < 15


def test_photos_shape_is_full_size_jpegs_of_mixed_sizes(tmp_path):
    from tasks.vision.ingest import Synthetic, write_default

    items = write_default(tmp_path, Synthetic(shape="photos", count=6))
    sizes = set()
    for item in items:
        with Image.open(item.path) as image:
            assert image.format == "JPEG" and 300 <= min(image.size) <= max(image.size) <= 500
            sizes.add(image.size)
    assert len(sizes) > 1 and {i.label for i in items} == {"ball", "box"}


@pytest.mark.parametrize(
    ("module", "make"),
    [
        ("tasks.recsys.ingest", lambda m: m.synthesize(m.Synthetic(shape="imdb"))),
        ("tasks.medical.ingest", lambda m: m.synthesize(m.Synthetic(shape="imdb"))),
        ("tasks.text.synthetic", lambda m: m.synthesize(m.Synthetic(shape="imdb"))),
    ],
)
def test_an_unknown_shape_is_named(module, make):
    import importlib

    with pytest.raises(InputError, match=r"synthetic.shape 'imdb' is unknown"):
        make(importlib.import_module(module))


def test_presets_are_seeded():
    from tasks.text.synthetic import Synthetic, synthesize

    a, b = (synthesize(Synthetic(shape="spam", count=50)) for _ in range(2))
    assert a.equals(b) and np.all(a.text.str.len() > 0)
