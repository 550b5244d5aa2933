"""The model over HTTP on 127.0.0.1, for doccano's auto-labeling ("Custom REST Request").

Endpoints (all take ``{"text": "…"}`` by POST):

- ``/predict``: themes, every theme's score, entities with Python character offsets;
- ``/doccano/category``: ``[{"label": theme}, …]``, what doccano's Category config wants;
- ``/doccano/span``: ``[{"label", "start_offset", "end_offset"}, …]`` in UTF-16 units, the
  offsets doccano's UI uses (see ``doccano_convert``);
- ``GET /health``.

doccano calls the model without a timeout of its own and inside a web worker, so this server
answers every request within ``timeout`` seconds: a prediction that takes longer gets 504,
a malformed request 4xx, an internal failure 500; the server itself keeps running.

It listens on 127.0.0.1 only (the model is for the local doccano, not the network), and bounds
what a client can take: a body of at most ``MAX_BODY`` bytes (a negative or missing length is
refused), a connection lives at most ``request_seconds`` plus the model's timeout however slowly
the client sends (a client trickling a byte every few seconds is cut off), and at most
``max_connections`` are served at once; beyond that the answer is 503 at once, with no thread.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from .convert import py_to_utf16

log = logging.getLogger("policy_nlp.autolabel")

MAX_BODY = 1 << 20        # bytes; a paragraph is a few KB
MAX_TEXT = 20000          # characters
REQUEST_SECONDS = 10.0    # to receive a request, however slowly the client sends
MAX_CONNECTIONS = 8
TEMPLATE = "{% if input is mapping %}[]{% else %}{{ input | tojson }}{% endif %}"   # an error body adds no label


class Predictor:
    """Runs the model one text at a time in a worker thread, so a slow call can be abandoned."""

    def __init__(self, predict: Callable[[str], dict], timeout: float = 10.0):
        self._predict = predict
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autolabel-model")

    @classmethod
    def from_pipeline(cls, nlp, timeout: float = 10.0) -> "Predictor":
        from ..model import predict

        return cls(lambda text: next(predict(nlp, [text])), timeout)

    def __call__(self, text: str) -> dict:
        return self._pool.submit(self._predict, text).result(timeout=self.timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def doccano_categories(prediction: dict) -> list[dict]:
    return [{"label": theme} for theme in prediction["themes"]]


def doccano_spans(text: str, prediction: dict) -> list[dict]:
    return [{"label": e["label"], "start_offset": py_to_utf16(text, e["start"]),
             "end_offset": py_to_utf16(text, e["end"])} for e in prediction["entities"]]


class _Handler(BaseHTTPRequestHandler):
    server: "ModelServer"
    timeout = 10                 # seconds to read a request: a stalled client cannot hold a thread
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # one deadline for the whole connection: a per-read timeout lets a trickling client stay forever
        self._deadline = threading.Timer(self.server.request_seconds + self.server.predictor.timeout, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def _cut(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def finish(self) -> None:
        self._deadline.cancel()
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args) -> None:   # noqa: A002  (http.server's signature)
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400:
            # The body of a refused request may be unread: never reuse this connection.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?")[0] == "/health":
            self._send(200, {"ok": True, "model": self.server.model_name})
        elif self.path.split("?")[0] in ENDPOINTS:
            self._send(405, {"error": "use POST with {\"text\": ...}"})
        else:
            self._send(404, {"error": f"no endpoint {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path not in ENDPOINTS:
            self._send(404, {"error": f"no endpoint {path}; use one of {sorted(ENDPOINTS)}"})
            return
        text, problem = self._read_text()
        if problem:
            self._send(problem[0], {"error": problem[1]})
            return
        try:
            prediction = self.server.predictor(text)
        except FutureTimeout:
            self._send(504, {"error": f"the model did not answer within {self.server.predictor.timeout} s"})
            return
        except Exception as e:   # a failing model must not take the server down
            log.exception("prediction failed")
            self._send(500, {"error": f"prediction failed: {type(e).__name__}: {e}"})
            return
        self._send(200, ENDPOINTS[path](text, prediction))

    def _read_text(self) -> tuple[str, Optional[tuple[int, str]]]:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return "", (411, "a Content-Length header is required")
        if length < 0:
            return "", (400, "Content-Length must not be negative")
        if length > MAX_BODY:
            return "", (413, f"request body over {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            return "", (400, f"body is not UTF-8 JSON: {e}")
        except OSError:
            return "", (408, "request body not received in time")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return "", (400, "body must be a JSON object with a string \"text\"")
        if len(text) > MAX_TEXT:
            return "", (413, f"text over {MAX_TEXT} characters")
        return text, None


ENDPOINTS = {
    "/predict": lambda text, p: p,
    "/doccano/category": lambda text, p: doccano_categories(p),
    "/doccano/span": doccano_spans,
}


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, predictor: Predictor, port: int = 0, model_name: str = "model",
                 request_seconds: float = REQUEST_SECONDS, max_connections: int = MAX_CONNECTIONS):
        # Loopback only: the model is for the local doccano, not the network.
        super().__init__(("127.0.0.1", port), _Handler)
        self.predictor = predictor
        self.model_name = model_name
        self.request_seconds = request_seconds
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                body = b'{"error": "too many requests at once; try again"}'
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests, and the CLI while it waits for Ctrl-C)."""
        thread = threading.Thread(target=self.serve_forever, name="autolabel-http", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.predictor.close()


def doccano_configs(base_url: str) -> list[dict]:
    """The two auto-labeling configs that point doccano at this server."""
    return [{"model_name": "Custom REST Request", "task_type": task, "template": TEMPLATE, "label_mapping": {},
             "model_attrs": {"url": f"{base_url}/doccano/{path}", "method": "POST", "params": {}, "headers": {},
                             "body": {"text": "{{ text }}"}}}
            for task, path in (("Category", "category"), ("Span", "span"))]


def is_ours(config: dict) -> bool:
    url = str((config.get("model_attrs") or {}).get("url", ""))
    return config.get("model_name") == "Custom REST Request" and "/doccano/" in url and url.startswith(
        ("http://127.0.0.1:", "http://localhost:"))
