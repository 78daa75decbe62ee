"""Online predictions, the model side: one LitServe API per domain over its inference contract
(`Predictor.load(folder, record)` + `predict(batch)`), following the production alias.

Each request is validated alone (`decode_request`). Requests LitServe batches together are
predicted in one call on the version served when the batch starts, so a swap never splits a
batch and a request in flight finishes on the version it started on. A request's own errors
come back as its own 4xx, never as its batch-mates'.

A domain's `tasks/<domain>/serve.py` says what its endpoint takes: `ROUTE` (POST
/v1/<domain>/<ROUTE>), `Body` (a pydantic model of the JSON), `ITEMS` (Body's list field:
one prediction each) and `inputs(body, served, api, limits)`, the predictor's inputs.
"""

import importlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import litserve as ls
from prometheus_client import Gauge, Histogram
from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.responses import JSONResponse

from tasks.common.errors import InputError, TooLarge
from tasks.common.limits import Limits
from tasks.common.params import stage_params
from tasks.common.paths import domain_paths

SECTION = "api"
log = logging.getLogger("verticals.api")

# Written by every model process into PROMETHEUS_MULTIPROC_DIR; /metrics gathers them.
BATCH_REQUESTS = Histogram(
    "verticals_api_batch_requests",
    "Requests predicted together in one batch",
    ["domain"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
SERVED_VERSION = Gauge(
    "verticals_api_model_version",
    "The registered version a model process serves",
    ["domain"],
    multiprocess_mode="livemax",
)


@dataclass(frozen=True)
class ApiParams:
    max_batch_size: int = 32  # requests predicted together
    batch_timeout: float = 0.005  # seconds a batch's first request waits for others
    max_queue: int = 128  # requests in flight per domain; more are answered 429
    max_items: int = 64  # inputs in one request
    max_body_bytes: int = 20_000_000  # 413 beyond
    max_text_chars: int = 10_000
    max_k: int = 100  # recommendations per user
    timeout: float = 30.0  # seconds a request may take, queueing included; 504 beyond
    follow_every: float = 2.0  # seconds between looks at the registry's production alias
    workers: int = 1  # model processes per domain


def load_api_params(root: Path) -> ApiParams:
    return stage_params(root, ApiParams, SECTION)


def endpoint(domain: str) -> str:
    return f"/v1/{domain}/{importlib.import_module(f'tasks.{domain}.serve').ROUTE}"


class Upload(BaseModel):
    """A file in a request: base64 in JSON, bare or with its name; a multipart file arrives
    so too (flows/api.py converts it)."""

    name: str = "upload"
    data: Base64Bytes

    @model_validator(mode="before")
    @classmethod
    def bare(cls, value: Any) -> Any:
        return {"data": value} if isinstance(value, str) else value


class Images(BaseModel):
    """What image endpoints take: files, one prediction each."""

    model_config = ConfigDict(extra="forbid")
    images: list[Upload] = Field(min_length=1)


@dataclass(frozen=True)
class Rejected:
    """One request's error: its HTTP status and a one-line reason."""

    status: int
    detail: str


def rejected(error: Exception) -> Rejected:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return Rejected(422, f"{where}: {first['msg']}" if where else first["msg"])
    return Rejected(413 if isinstance(error, TooLarge) else 422, str(error))


@dataclass(frozen=True)
class Served:
    version: int
    predictor: Any  # the domain's Predictor
    record: dict  # the version's record: metrics, params, lineage


@dataclass(frozen=True)
class Answer:
    version: int
    predictions: list[dict]


class DomainAPI(ls.LitAPI):
    """One domain's endpoint. Pickled into its model processes: it holds only names, params
    and the shared `board` (a Manager dict: which version each process serves)."""

    def __init__(self, domain: str, root: Path, api: ApiParams, limits: Limits, board) -> None:
        super().__init__(
            max_batch_size=api.max_batch_size,
            batch_timeout=api.batch_timeout,
            api_path=endpoint(domain),
        )
        self.domain, self.root, self.api, self.limits, self.board = domain, root, api, limits, board

    def setup(self, device: str) -> None:
        from tasks.common.registry import PRODUCTION, open_registry

        self.serve = importlib.import_module(f"tasks.{self.domain}.serve")
        self.predictor_type = importlib.import_module(f"tasks.{self.domain}.predictor").Predictor
        self.registry = open_registry(domain_paths(self.domain, self.root))
        self.served = self.load(self.registry.aliases()[PRODUCTION])
        threading.Thread(target=self.follow, name="follow-registry", daemon=True).start()

    def load(self, version: int) -> Served:
        folder, record = self.registry.fetch(str(version))
        served = Served(version, self.predictor_type.load(folder, record), record)
        self.board[f"{self.domain}/{os.getpid()}"] = {
            "domain": self.domain,
            "version": version,
            "model_hash": record["model_hash"],
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        SERVED_VERSION.labels(self.domain).set(version)
        return served

    def follow(self) -> None:
        """Load the version production moves to, then swap it in (one assignment)."""
        from tasks.common.registry import PRODUCTION

        while True:
            time.sleep(self.api.follow_every)
            try:
                version = self.registry.aliases().get(PRODUCTION)
                if version is not None and version != self.served.version:
                    log.warning("%s: loading version %s", self.domain, version)
                    self.served = self.load(version)
                    log.warning("%s: now serving version %s", self.domain, version)
            except Exception as e:  # a registry down for a while: keep serving what we have
                log.warning("%s: cannot follow the registry: %s", self.domain, e)

    def decode_request(self, request) -> BaseModel | Rejected:  # unannotated: LitServe passes JSON
        try:
            body = self.serve.Body.model_validate(request)
        except ValidationError as e:
            return rejected(e)
        count = len(getattr(body, self.serve.ITEMS))
        if count > self.api.max_items:
            return Rejected(
                413, f"{self.serve.ITEMS}: {count} items, over api.max_items ({self.api.max_items})"
            )
        return body

    def batch(self, requests: list) -> list:
        return requests

    def predict(self, batch: Any) -> Any:
        """One predictor call for every good request in the batch (or the one request, when
        batching is off)."""
        served = self.served
        requests = batch if isinstance(batch, list) else [batch]
        inputs = [self.inputs(r, served) for r in requests]
        good = [x for one in inputs if isinstance(one, list) for x in one]
        rows = iter(served.predictor.predict(good))
        answers = [
            one
            if isinstance(one, Rejected)
            else Answer(served.version, list(islice(rows, len(one))))
            for one in inputs
        ]
        BATCH_REQUESTS.labels(self.domain).observe(len(requests))
        return answers if isinstance(batch, list) else answers[0]

    def inputs(self, request: BaseModel | Rejected, served: Served) -> list | Rejected:
        if isinstance(request, Rejected):
            return request
        try:
            return self.serve.inputs(request, served, self.api, self.limits)
        except InputError as e:
            return rejected(e)

    def unbatch(self, answers: list) -> list:
        return answers

    def encode_response(self, answer: Answer | Rejected) -> Any:
        if isinstance(answer, Rejected):
            return JSONResponse({"detail": answer.detail}, status_code=answer.status)
        return {
            "model": {"domain": self.domain, "version": answer.version},
            "predictions": answer.predictions,
        }
