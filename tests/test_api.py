"""`verticals api` as a client meets it: a real server (LitServe on uvicorn) on a free loopback
port, serving the session's reproduced workspace."""

import asyncio
import base64
import io
import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import sh
from tests.servers import batch_requests, local_api

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(reproduced, tmp_path_factory) -> Path:
    """A copy of the reproduced workspace where every domain has a production version: the
    tiny medical and vision models fail their gates, so they are promoted by hand."""
    ws = tmp_path_factory.mktemp("served") / "ws"
    shutil.copytree(reproduced, ws, symlinks=True)
    for domain in ("medical", "vision"):
        sh("verticals", "promote", domain, "1", "--force", cwd=ws)
    return ws


@pytest.fixture(scope="module")
def api(served):
    with local_api(served) as url:
        yield url


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def post(url: str, path: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}{path}", timeout=60, **kwargs)


def predicted(ws: Path, domain: str, tmp_path: Path, *args: str) -> pd.DataFrame:
    out = tmp_path / f"{domain}.parquet"
    sh("verticals", "predict", domain, "--output", str(out), *args, cwd=ws)
    return pd.read_parquet(out)


def test_every_endpoint_answers_as_verticals_predict_does(api, served, tmp_path):
    from pydicom.data import get_testdata_file

    rng = np.random.default_rng(0)
    models = httpx.get(f"{api}/v1/models").json()
    assert {d: m["version"] for d, m in models.items()} == {
        "medical": 1, "recsys": 1, "text": 1, "vision": 1,
    }  # fmt: skip

    recs = post(api, "/v1/recsys/recommend", json={"users": ["3", 7], "k": 4}).json()
    assert recs["model"] == {"domain": "recsys", "version": 1}
    table = predicted(served, "recsys", tmp_path, "--users", "3,7", "--k", "4")
    for answer in recs["predictions"]:
        mine = table[table.user == answer["user"]]
        assert [i["item"] for i in answer["items"]] == mine.item.tolist()
        assert [i["score"] for i in answer["items"]] == pytest.approx(mine.score.tolist())

    scans = tmp_path / "scans"
    scans.mkdir()
    for i, size in enumerate((64, 90)):
        (scans / f"{i}.png").write_bytes(png(rng.integers(0, 256, (size, size), dtype=np.uint8)))
    shutil.copy(get_testdata_file("MR_small.dcm"), scans / "2.dcm")
    files = sorted(scans.iterdir())
    images = [{"name": f.name, "data": base64.b64encode(f.read_bytes()).decode()} for f in files]
    screened = post(api, "/v1/medical/screen", json={"images": images}).json()["predictions"]
    table = predicted(served, "medical", tmp_path, "--input", str(scans))
    assert [s["label"] for s in screened] == table.label.tolist()
    assert [s["probability"] for s in screened] == pytest.approx(table.probability, abs=1e-5)

    texts = ["I was charged twice.", "Where is my parcel?", "I cannot log in"]
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "texts.csv", index=False)
    labelled = post(api, "/v1/text/classify", json={"texts": texts}).json()["predictions"]
    table = predicted(served, "text", tmp_path, "--input", str(tmp_path / "texts.csv"))
    assert [t["label"] for t in labelled] == table.label.tolist()
    assert [t["probability"] for t in labelled] == pytest.approx(table.probability, abs=1e-5)

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, (h, w) in enumerate(((40, 40), (30, 50), (16, 16))):
        (photos / f"{i}.png").write_bytes(png(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
    upload = [("images", (f.name, f.read_bytes(), "image/png")) for f in sorted(photos.iterdir())]
    classified = post(api, "/v1/vision/classify", files=upload).json()["predictions"]
    table = predicted(served, "vision", tmp_path, "--input", str(photos))
    assert [c["top5"] for c in classified] == table.top5.map(list).tolist()
    assert [c["probability"] for c in classified] == pytest.approx(table.probability, abs=1e-5)


def test_concurrent_requests_are_batched(api):
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{api}/v1/text/classify", json={"texts": [f"refund {i}"]})
                    for i in range(32)
                )
            )

    before = batch_requests(api, "text")
    answers = asyncio.run(burst())
    assert [a.status_code for a in answers] == [200] * 32
    requests, batches = (a - b for a, b in zip(batch_requests(api, "text"), before, strict=True))
    assert requests == 32
    assert batches < 32  # some batch held more than one request
    metrics = httpx.get(f"{api}/metrics").text
    assert 'verticals_api_requests_total{domain="text",status="200"}' in metrics
    assert 'verticals_api_request_seconds_bucket{domain="text"' in metrics


def test_bad_requests_get_one_line_errors_and_the_server_keeps_serving(api):
    huge = png(np.zeros((7000, 6000), dtype=np.uint8))  # 42 M pixels: over limits.image_pixels
    bad = [
        ("/v1/text/classify", {"content": b'{"texts": ["a"'}, 400, "malformed JSON"),
        ("/v1/text/classify", {"json": {"texts": "a"}}, 422, "texts: Input should be a valid list"),
        ("/v1/text/classify", {"json": {"texts": [1]}}, 422, "texts.0: Input should be a valid"),
        ("/v1/text/classify", {"json": {"texts": []}}, 422, "texts: List should have at least 1"),
        ("/v1/text/classify", {"json": {"texts": ["x" * 10_001]}}, 413, "api.max_text_chars"),
        ("/v1/text/classify", {"json": {"texts": ["a"] * 65}}, 413, "over api.max_items (64)"),
        (
            "/v1/recsys/recommend",
            {"json": {"users": ["3", "nobody"]}},
            422,
            "unknown user id(s): nobody",
        ),
        (
            "/v1/recsys/recommend",
            {"json": {"users": ["3"], "k": 0}},
            422,
            "k: Input should be greater",
        ),
        (
            "/v1/vision/classify",
            {"json": {"images": ["abcde"]}},
            422,
            "images.0.data: Base64 decoding",
        ),
        (
            "/v1/vision/classify",
            {"files": [("images", ("a.png", b"not a png", "image/png"))]},
            422,
            "images.0 (a.png): not a readable image",
        ),
        (
            "/v1/medical/screen",
            {"files": [("images", ("big.png", huge))]},
            413,
            "limits.image_pixels",
        ),
        ("/v1/medical/screen", {"content": b"x" * 20_000_001}, 413, "api.max_body_bytes"),
        ("/v1/nowhere/classify", {"json": {}}, 404, "Not Found"),
    ]
    for path, request, status, reason in bad:
        answer = post(api, path, **request)
        assert answer.status_code == status, (path, answer.text)
        assert reason in answer.json()["detail"]
        assert "\n" not in answer.text
        good = post(api, "/v1/text/classify", json={"texts": ["refund please"]})
        assert good.status_code == 200


def test_a_request_in_a_batch_fails_alone(api):
    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            users = [["3"], ["nobody"], ["7"]] * 6
            return await asyncio.gather(
                *(client.post(f"{api}/v1/recsys/recommend", json={"users": u}) for u in users)
            )

    answers = asyncio.run(together())
    assert [a.status_code for a in answers] == [200, 422, 200] * 6


def test_the_server_follows_production_with_no_failed_request(workspace):
    """Two recsys versions; production moves while a client loop runs: every request succeeds
    and the answers switch to the version production names."""
    sh("dvc", "repro", "register@recsys", cwd=workspace)
    from flows.overrides import apply_overrides

    apply_overrides(workspace, ["recsys.train.lr=0.02"])
    sh("dvc", "repro", "register@recsys", cwd=workspace)
    sh("verticals", "promote", "recsys", "1", "--force", cwd=workspace)
    with local_api(workspace, "recsys") as url:
        seen: list[tuple[int, int | None]] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(timeout=60) as session:
                while not stop.is_set():
                    answer = session.post(f"{url}/v1/recsys/recommend", json={"users": ["3"]})
                    version = answer.json()["model"]["version"] if answer.is_success else None
                    seen.append((answer.status_code, version))

        def until(version: int) -> None:
            deadline = time.monotonic() + 60
            while not seen or seen[-1][1] != version:
                assert time.monotonic() < deadline, f"still serving {seen[-1]}"
                time.sleep(0.1)

        loops = [threading.Thread(target=client) for _ in range(4)]
        for loop in loops:
            loop.start()
        try:
            until(1)
            sh("verticals", "promote", "recsys", "2", "--force", cwd=workspace)
            until(2)
            assert httpx.get(f"{url}/v1/models").json()["recsys"]["version"] == 2
            sh("verticals", "rollback", "recsys", cwd=workspace)
            until(1)
        finally:
            stop.set()
            for loop in loops:
                loop.join()
        assert {status for status, _ in seen} == {200}
        versions = [v for _, v in seen]
        switches = [b for a, b in zip(versions, versions[1:], strict=False) if a != b]
        assert 2 in switches and switches[-1] == 1
        assert json.loads(httpx.get(f"{url}/v1/models").text)["recsys"]["version"] == 1
