import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tasks.common.errors import InputError
from tasks.medical.ingest import (
    IngestParams,
    Synthetic,
    Window,
    load,
    read_dicom,
    synthesize,
    window_hu,
)


def write_dicom(path, hu_stored: np.ndarray, slope=1.0, intercept=-1024.0, pixels=True):
    """A minimal CT slice, written with pydicom."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.Modality = "CT"
    ds.Rows, ds.Columns = hu_stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if pixels:
        ds.PixelData = hu_stored.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_generator_is_deterministic_with_a_minority_of_positives():
    a, b = synthesize(Synthetic(count=300, seed=5)), synthesize(Synthetic(count=300, seed=5))
    np.testing.assert_array_equal(np.stack(a.images), np.stack(b.images))
    assert 0.12 < a.labels.mean() < 0.28
    assert a.images[0].shape == (64, 64) and a.images[0].dtype == np.uint8
    pos, neg = np.stack(a.images)[a.labels == 1], np.stack(a.images)[a.labels == 0]
    assert pos.max(axis=(1, 2)).mean() > neg.max(axis=(1, 2)).mean()  # nodules are brighter


def test_window_maps_hounsfield_units_to_uint8():
    w = Window(center=-600, width=1500)  # [-1350, 150]
    got = window_hu(np.array([-2000.0, -1350.0, -600.0, 150.0, 3000.0]), w)
    assert got.tolist() == [0, 0, 128, 255, 255]


def test_dicom_rescale_slope_and_intercept_are_applied(tmp_path):
    stored = np.array([[0, 424], [1024, 1174]])  # with slope 1, intercept -1024: -1024..150 HU
    write_dicom(tmp_path / "a.dcm", stored)
    got = read_dicom(tmp_path / "a.dcm", Window(center=-600, width=1500))
    assert got.tolist() == window_hu(stored - 1024.0, Window(-600, 1500)).tolist()
    write_dicom(tmp_path / "b.dcm", stored // 2, slope=2.0)
    np.testing.assert_array_equal(read_dicom(tmp_path / "b.dcm", Window(-600, 1500)), got)


def dicom_folder(tmp_path, rows):
    folder = tmp_path / "dicom"
    folder.mkdir()
    for name, _ in rows:
        write_dicom(folder / name, np.full((8, 8), 500))
    (folder / "labels.csv").write_text("file,label\n" + "".join(f"{n},{y}\n" for n, y in rows))
    return folder


def test_a_dicom_folder_with_labels_is_ingested(tmp_path):
    folder = dicom_folder(tmp_path, [("a.dcm", 0), ("b.dcm", 1)])
    [scans] = load(IngestParams(source=str(folder)))
    assert scans.ids == ["a.dcm", "b.dcm"] and scans.labels.tolist() == [0, 1]


def test_dicom_without_pixel_data_is_named(tmp_path):
    folder = dicom_folder(tmp_path, [("a.dcm", 0)])
    write_dicom(folder / "a.dcm", np.zeros((4, 4)), pixels=False)
    with pytest.raises(InputError, match=r"a\.dcm: DICOM file has no pixel data"):
        list(load(IngestParams(source=str(folder))))


def test_labels_csv_naming_a_missing_file(tmp_path):
    folder = dicom_folder(tmp_path, [("a.dcm", 0)])
    (folder / "labels.csv").write_text("file,label\na.dcm,0\nghost.dcm,1\n")
    with pytest.raises(InputError, match=r"labels\.csv: row 2: file ghost\.dcm does not exist"):
        load(IngestParams(source=str(folder)))


def npz(path, **overrides):
    arrays = {
        f"{s}_{k}": v
        for s in ("train", "val", "test")
        for k, v in (
            ("images", np.zeros((4, 28, 28), np.uint8)),
            ("labels", np.array([[0], [1], [0], [1]])),
        )
    }
    np.savez(path, **{**arrays, **overrides})
    return str(path)


def test_medmnist_npz_keeps_its_split(tmp_path):
    [scans] = load(IngestParams(source=npz(tmp_path / "m.npz")))
    assert len(scans.ids) == 12 and scans.splits[:4] == ["train"] * 4 and scans.splits[-1] == "test"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"val_labels": np.array([0, 1, 2, 0])},
            r"m\.npz val_labels: row 3: label 2 is not 0 or 1",
        ),
    ],
)
def test_bad_npz_labels_are_named(tmp_path, overrides, message):
    with pytest.raises(InputError, match=message):
        load(IngestParams(source=npz(tmp_path / "m.npz", **overrides)))


def test_npz_without_the_expected_keys(tmp_path):
    np.savez(tmp_path / "m.npz", x=np.zeros(3))
    with pytest.raises(InputError, match=r"m\.npz: missing key\(s\) train_images"):
        load(IngestParams(source=str(tmp_path / "m.npz")))


def image_folder(tmp_path):
    root = tmp_path / "scans"
    for cls in ("negative", "positive"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((10, 12), 40 * i, np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_an_image_folder_maps_class_folders_to_labels(tmp_path):
    [scans] = load(IngestParams(source=str(image_folder(tmp_path))))
    assert scans.labels.tolist() == [0, 0, 1, 1]
    assert scans.images[0].shape == (10, 12)


def test_a_truncated_png_is_named(tmp_path):
    root = image_folder(tmp_path)
    data = (root / "positive" / "1.png").read_bytes()
    (root / "positive" / "1.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"positive/1\.png: not a readable image"):
        list(load(IngestParams(source=str(root))))


def test_an_unknown_class_folder_is_named(tmp_path):
    root = image_folder(tmp_path)
    (root / "maybe").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "maybe" / "x.png")
    with pytest.raises(InputError, match=r"unknown class folder\(s\) \['maybe'\]"):
        load(IngestParams(source=str(root)))


def compressed(tmp_path, stored: np.ndarray, syntax) -> str:
    import pydicom

    write_dicom(tmp_path / "plain.dcm", stored)
    ds = pydicom.dcmread(tmp_path / "plain.dcm")
    ds.compress(syntax)
    path = tmp_path / f"{syntax.name[:12]}.dcm"
    ds.save_as(path)
    return path


def test_compressed_dicoms_decode(tmp_path):
    """Written here (RLE, JPEG 2000) and as pydicom ships them (JPEG-LS, JPEG Extended)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import JPEG2000Lossless, RLELossless

    stored = (np.arange(64 * 64).reshape(64, 64) % 1500).astype(np.int16)
    window = Window(center=-600, width=1500)
    expected = window_hu(stored - 1024.0, window)
    for syntax in (RLELossless, JPEG2000Lossless):
        path = compressed(tmp_path, stored, syntax)
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
        np.testing.assert_array_equal(read_dicom(path, window), expected)
    plain = read_dicom(get_testdata_file("MR_small.dcm"), window)
    lossless = read_dicom(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), window)
    np.testing.assert_array_equal(lossless, plain)
    assert read_dicom(get_testdata_file("JPGExtended.dcm"), window).shape == (1024, 256)


def test_an_undecodable_dicom_names_its_transfer_syntax(tmp_path):
    import pydicom
    from pydicom.encaps import encapsulate

    path = compressed(tmp_path, np.zeros((64, 64), np.int16), pydicom.uid.RLELossless)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML  # video: no decoder here
    ds.PixelData = encapsulate([b"\xff\x0a not a codestream"])
    ds.save_as(path)
    with pytest.raises(InputError, match=r"cannot decode its pixels \(transfer syntax MPEG2"):
        read_dicom(path, Window())


def graded_rgb_npz(path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 30), ("val", 10), ("test", 10)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 5).reshape(-1, 1)  # grades 0-4
    np.savez(path, **arrays)
    return arrays


def test_graded_labels_need_positive_from_and_then_become_0_1(tmp_path):
    from tasks.medical.ingest import read_npz

    arrays = graded_rgb_npz(tmp_path / "retina.npz")
    with pytest.raises(InputError, match=r"label 2 is not 0 or 1 \(graded labels: set positive"):
        read_npz(str(tmp_path / "retina.npz"))
    scans = read_npz(str(tmp_path / "retina.npz"), positive_from=2)
    assert scans.labels[:30].tolist() == (arrays["train_labels"].ravel() >= 2).tolist()


def test_color_scans_keep_three_channels_through_preprocess_and_the_model(tmp_path):
    from models.medical import ScreeningConfig, build_screening_model
    from tasks.medical.ingest import read_npz
    from tasks.medical.preprocess import PreprocessParams
    from tests.medical.scans import prepared

    arrays = graded_rgb_npz(tmp_path / "retina.npz")
    scans = read_npz(str(tmp_path / "retina.npz"), positive_from=1)
    color = prepared(scans, tmp_path / "color", PreprocessParams(size=16), channels=3)
    gray = prepared(scans, tmp_path / "gray", PreprocessParams(size=8))
    assert color["train"].images.shape == (30, 16, 16, 3)
    assert gray["train"].images.shape == (30, 8, 8, 1)
    expected = arrays["train_images"][0].mean(-1).round()  # MedMNIST's RGB read in gray
    np.testing.assert_array_equal(gray["train"].images[0, ..., 0], expected)
    model = build_screening_model(ScreeningConfig(), 16, channels=3)
    assert model.predict(color["test"].images, verbose=0).shape == (10, 1)


def test_chunks_stream_into_one_table_and_each_split_keeps_its_rows(tmp_path):
    """Three chunks (512, 512, 176 scans) in, row groups out; preprocess scatters every chunk
    into the splits' memory-mapped arrays at the rows the split assigned."""
    import pyarrow.parquet as pq

    from tasks.medical import preprocess
    from tasks.medical.ingest import CHUNK, synthetic_chunks, write

    p = Synthetic(count=2 * CHUNK + 176, size=16)
    labels = write(synthetic_chunks(p), tmp_path / "scans.parquet", "gen")
    raw = pq.ParquetFile(tmp_path / "scans.parquet")
    assert raw.metadata.num_row_groups == 3 and len(labels) == p.count
    table = raw.read()
    assert len(set(table["id"].to_pylist())) == p.count
    every = np.stack([np.frombuffer(px, np.uint8) for px in table["pixels"].to_pylist()])
    params = preprocess.PreprocessParams(size=16)
    _, parts = preprocess.split_index(raw, params, "gen")
    stats = preprocess.prepare(tmp_path / "scans.parquet", params, tmp_path, "gen")
    for name, rows in parts.items():
        got = preprocess.load(tmp_path, name)
        np.testing.assert_array_equal(got.images.reshape(len(rows), -1), every[rows])
        np.testing.assert_array_equal(got.labels, labels[rows])
        assert stats[name]["scans"] == len(rows)
    again = write(synthetic_chunks(p), tmp_path / "again.parquet", "gen")
    np.testing.assert_array_equal(again, labels)
