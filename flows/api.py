"""`verticals api`: every domain's production model over HTTP, batched, following the registry.

LitServe runs it: one uvicorn process for HTTP and, per domain, model processes fed through
LitServe's queues (tasks/common/serving.py). `Guard` stands in front of the queues and answers
what must not reach them (429 when a domain has api.max_queue requests in flight, 413, 400 on
malformed JSON, 504 past api.timeout), turns multipart files into the JSON form, and counts and
times every request. /v1/models, /healthz, /readyz and /metrics are routes of the same app.
"""

import asyncio
import base64
import json
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

from tasks.common.errors import InputError

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # every process writes its metrics here
JSON = (b"content-type", b"application/json")


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def reply(send, status: int, detail: str) -> None:
    """A one-line JSON error, as FastAPI and LitServe give theirs."""
    body = json.dumps({"detail": detail}).encode()
    headers = [JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(scope, receive, limit: int) -> bytes:
    declared = dict(scope["headers"]).get(b"content-length", b"0")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"request body of {int(declared)} bytes, over api.max_body_bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refused(400, "the client left before sending its body")
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise Refused(413, f"request body over api.max_body_bytes ({limit})")
        if not message.get("more_body"):
            return b"".join(chunks)


def replay(body: bytes, receive):
    """A `receive` that gives the body read already, then whatever the client sends next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


async def multipart_as_json(scope, body: bytes, receive, max_files: int) -> bytes:
    """Files become {"name", "data": base64} under their field, as a JSON client sends them."""
    from starlette.datastructures import UploadFile
    from starlette.requests import Request

    try:
        form = await Request(scope, replay(body, receive)).form(max_files=max_files)
    except Exception as e:  # starlette's parser errors: too many files, a broken body
        raise Refused(400, f"multipart body: {getattr(e, 'detail', e)}") from None
    fields: dict = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = base64.b64encode(await value.read()).decode()
            fields.setdefault(key, []).append({"name": value.filename or "upload", "data": data})
        elif key in fields:
            fields[key] = (
                [*fields[key], value] if isinstance(fields[key], list) else [fields[key], value]
            )
        else:
            fields[key] = value
    await form.close()
    return json.dumps(fields).encode()


class Guard:
    """Pure ASGI middleware on the domains' routes (see the module's docstring)."""

    def __init__(self, app, routes: dict[str, str], api, requests, latency) -> None:
        self.app, self.routes, self.api = app, routes, api
        self.requests, self.latency = requests, latency
        self.in_flight = dict.fromkeys(routes.values(), 0)

    async def __call__(self, scope, receive, send) -> None:
        domain = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if domain is None or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), []

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            if self.in_flight[domain] >= self.api.max_queue:
                return await reply(sending, 429, f"{domain}: api.max_queue requests in flight")
            self.in_flight[domain] += 1
            try:
                await asyncio.wait_for(self.admit(scope, receive, sending), self.api.timeout)
            except Refused as e:
                await reply(sending, e.status, e.detail)
            except TimeoutError:
                if not status:
                    await reply(
                        sending, 504, f"no answer within api.timeout ({self.api.timeout} s)"
                    )
            finally:
                self.in_flight[domain] -= 1
        finally:
            self.requests.labels(domain, str(status[0] if status else 500)).inc()
            self.latency.labels(domain).observe(time.perf_counter() - start)

    async def admit(self, scope, receive, send) -> None:
        """The body, read within its limit, goes on as JSON whatever the client called it."""
        body = await read_body(scope, receive, self.api.max_body_bytes)
        if dict(scope["headers"]).get(b"content-type", b"").startswith(b"multipart/form-data"):
            body = await multipart_as_json(scope, body, receive, self.api.max_items)
        else:
            try:
                json.loads(body)
            except ValueError as e:
                raise Refused(400, f"malformed JSON: {e}") from None
        kept = [
            (k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")
        ]
        scope = {**scope, "headers": [*kept, JSON, (b"content-length", str(len(body)).encode())]}
        await self.app(scope, replay(body, receive), send)


def models(board, domains: list[str]) -> dict:
    """Per domain, the version its model processes serve (the latest loaded, mid-swap)."""
    from tasks.common.registry import model_name

    entries = list(board.values())
    shown = {}
    for domain in domains:
        mine = [e for e in entries if e["domain"] == domain]
        if not mine:
            shown[domain] = {"name": model_name(domain), "version": None}
            continue
        latest = max(mine, key=lambda e: (e["since"], e["version"]))
        shown[domain] = {
            "name": model_name(domain),
            **{k: v for k, v in latest.items() if k != "domain"},
            "processes": sum(e["version"] == latest["version"] for e in mine),
        }
    return shown


def ready(board, domains: list[str], workers: int) -> bool:
    loaded = [e["domain"] for e in board.values()]
    return all(loaded.count(d) >= workers for d in domains)


def add_routes(app, board, domains: list[str], workers: int) -> None:
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    @app.get("/healthz", summary="The HTTP process is alive")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Every domain's model is loaded")
    def readyz() -> JSONResponse:
        ok = ready(board, domains, workers)
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/v1/models", summary="Which registered version serves each domain")
    def served_models() -> dict:
        return models(board, domains)

    @app.get("/metrics", summary="Prometheus: requests, latency, batch sizes, versions")
    def metrics() -> Response:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def build(root: Path, domains: list[str], board):
    """The LitServer; PROMETHEUS_MULTIPROC_DIR must be set before this imports the client."""
    import litserve as ls
    from prometheus_client import Counter, Histogram

    from tasks.common.limits import load_limits
    from tasks.common.serving import DomainAPI, endpoint, load_api_params

    api, limits = load_api_params(root), load_limits(root)
    requests = Counter(
        "verticals_api_requests", "Requests answered, by status", ["domain", "status"]
    )
    latency = Histogram("verticals_api_request_seconds", "Time to answer a request", ["domain"])
    guard = {
        "routes": {endpoint(d): d for d in domains},
        "api": api,
        "requests": requests,
        "latency": latency,
    }
    server = ls.LitServer(
        [DomainAPI(d, root, api, limits, board) for d in domains],
        accelerator="cpu",
        workers_per_device=api.workers,
        timeout=api.timeout,
        middlewares=[(Guard, guard)],
    )
    add_routes(server.app, board, domains, api.workers)
    for route in server.app.routes:  # the docs say what each endpoint takes
        if (domain := guard["routes"].get(getattr(route, "path", ""))) is not None:
            route.description = endpoint_doc(domain)
    return server, api


def endpoint_doc(domain: str) -> str:
    import importlib

    return importlib.import_module(f"tasks.{domain}.serve").__doc__ or ""


def check_production(root: Path, domains: list[str]) -> None:
    from tasks.common.paths import domain_paths
    from tasks.common.registry import PRODUCTION, open_registry

    for domain in domains:
        registry = open_registry(domain_paths(domain, root))
        if PRODUCTION not in registry.aliases():
            raise InputError(
                f"{registry.name} has no production version: run `verticals run {domain}` "
                f"or `verticals promote {domain} VERSION` first"
            )


def announce_when_ready(board, domains: list[str], workers: int, url: str) -> None:
    def wait() -> None:
        while not ready(board, domains, workers):
            time.sleep(0.2)
        shown = ", ".join(f"{d} v{e['version']}" for d, e in models(board, domains).items())
        print(f"serving {shown} on {url} (docs: {url}/docs)", flush=True)

    threading.Thread(target=wait, daemon=True).start()


def check_port(host: str, port: int) -> None:
    """Fail in one line, before any model loads, on a port that cannot be had."""
    if not 1024 <= port <= 65535:
        raise InputError(f"--port {port}: choose one from 1024 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as e:
            raise InputError(f"--port {port}: {e.strerror} on {host}") from None


def serve(root: Path, domains: list[str], host: str, port: int) -> None:
    check_port(host, port)
    check_production(root, domains)
    with tempfile.TemporaryDirectory(prefix="verticals-metrics-") as metrics_dir:
        os.environ[METRICS_DIR] = metrics_dir
        # inherited by the model processes: quiet TensorFlow, and idle OpenMP threads that
        # sleep rather than spin, as they share the cores with the HTTP process
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with multiprocessing.Manager() as manager:
            board = manager.dict()
            server, api = build(root, domains, board)
            # `kill` stops it as Ctrl-C does: LitServe then stops its processes
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            announce_when_ready(board, domains, api.workers, f"http://{host}:{port}")
            server.run(
                host=host,
                port=port,
                num_api_servers=1,
                generate_client_file=False,
                log_level="warning",
            )
