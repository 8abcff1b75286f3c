"""A local OpenAI-compatible server for the tests: real HTTP on 127.0.0.1, no network.

* ``POST /v1/embeddings``: hash-based vectors (same text, same vector), returned in
  *reverse* order so a client that ignores ``index`` fails.
* ``POST /v1/chat/completions``: ``echo: <last user message>`` cut to ``max_tokens``
  words (or the next scripted reply), SSE streaming with ``stream: true``, and a judge
  mode (``logprobs`` with ``max_tokens: 1``) that answers by word overlap between the
  ``Query:`` and ``Document:`` lines of the prompt. Other requests with ``logprobs``
  get :func:`fake_logprobs` for their reply (``token_id:N`` tokens when the body has
  ``return_tokens_as_token_ids``); streams never carry logprobs.
* Switches on :class:`ServerState`: queued failures (429 with ``Retry-After``, 500...),
  queued broken streams (:meth:`ServerState.break_stream`: the body cut off mid-chunk,
  or ended cleanly without ``data: [DONE]``), a required API key, a per-request delay,
  logprobs on/off, the embedding ``dimension``. Counters: requests per path, the most
  requests ever in flight at once, request start times and bodies.

Streams are sent as real servers send them: HTTP/1.1 with chunked transfer encoding,
so a cut body is one the client can tell from a complete one.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"


@dataclass
class ServerState:
    api_key: str | None = None
    delay: float = 0.0
    logprobs: bool = True
    dimension: int = 8
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    stream_breaks: list[tuple[Literal["cut", "end"], int | None]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    starts: list[float] = field(default_factory=list)
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, times: int, status: int = 429, retry_after: str | None = "0") -> None:
        """The next ``times`` requests get ``status`` (429s carry ``Retry-After``)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures.extend([(status, headers)] * times)

    def break_stream(
        self, how: Literal["cut", "end"], after: int | None = 0, times: int = 1
    ) -> None:
        """The next ``times`` streamed replies stop after ``after`` text pieces (``None``:
        after every piece and the ``finish_reason`` event): ``"cut"`` drops the connection
        mid-body (no closing chunk), ``"end"`` ends the body cleanly without
        ``data: [DONE]``."""
        self.stream_breaks.extend([(how, after)] * times)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset_counters(self) -> None:
        with self.lock:
            self.counts.clear()
            self.max_in_flight = 0
            self.starts.clear()
            self.bodies.clear()
            self.authorization.clear()


def fake_vector(text: str, dimension: int) -> list[float]:
    """Deterministic values in [-1, 1) from sha256 of the text."""
    raw = b""
    counter = 0
    while len(raw) < 4 * dimension:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    ints = struct.unpack(f"<{dimension}I", raw[: 4 * dimension])
    return [round(i / 2**31 - 1.0, 6) for i in ints]


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def fake_tokens(text: str) -> list[str]:
    """The reply's "tokens": each word with the spaces after it (they join to ``text``)."""
    return re.findall(r"\S+\s*|\s+", text)


def fake_token_id(token: str) -> int:
    return int(hashlib.sha256(token.encode()).hexdigest()[:6], 16) % 100_000


def fake_logprobs(text: str, k: int, ids: bool = False) -> dict[str, Any]:
    """``logprobs.content`` for ``text``: each token is its position's top choice, with a
    log-prob from a hash of the token, then ``alt1``, ``alt2``... each 0.5 lower."""

    def item(token: str, logprob: float) -> dict[str, Any]:
        shown = f"token_id:{fake_token_id(token)}" if ids else token
        return {"token": shown, "logprob": logprob, "bytes": list(shown.encode())}

    content = []
    for token in fake_tokens(text):
        best = -round(0.05 + fake_token_id(token) % 1000 / 1000, 4)
        top = [item(token, best)] + [item(f"alt{j}", best - 0.5 * j) for j in range(1, k)]
        content.append({**item(token, best), "top_logprobs": top[:k]})
    return {"content": content}


def judge_probability(prompt: str) -> float:
    """P(yes): grows with the share of query words that the document contains."""
    query = re.search(r"^Query: (.*)$", prompt, re.MULTILINE)
    document = re.search(r"^Document: (.*)$", prompt, re.MULTILINE)
    if not query or not document:
        return 0.5
    qwords, dwords = set(words(query.group(1))), set(words(document.group(1)))
    overlap = len(qwords & dwords) / max(1, len(qwords))
    return 0.02 + 0.96 * overlap


class Handler(BaseHTTPRequestHandler):
    state: ServerState  # set on the subclass each server makes

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        state = self.state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with state.lock:
            state.counts[self.path] += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            state.starts.append(time.monotonic())
            state.bodies.append((self.path, body))
            state.authorization.append(self.headers.get("Authorization"))
            failure = state.failures.pop(0) if state.failures else None
        try:
            if state.delay:
                time.sleep(state.delay)
            self._route(body, failure)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _route(self, body: dict[str, Any], failure: tuple[int, dict[str, str]] | None) -> None:
        state = self.state
        if failure is not None:
            status, headers = failure
            return self._error(status, f"injected failure {status}", headers)
        if state.api_key and self.headers.get("Authorization") != f"Bearer {state.api_key}":
            return self._error(401, "Incorrect API key provided.")
        if body.get("model") == "missing-model":
            return self._error(404, "The model `missing-model` does not exist.")
        if self.path == EMBEDDINGS:
            return self._json(self._embeddings(body))
        if self.path == CHAT:
            return self._chat(body)
        return self._error(404, f"no route {self.path}")

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dimension = body.get("dimensions") or self.state.dimension
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, dimension)}
            for i, t in enumerate(texts)
        ]
        return {"object": "list", "data": data[::-1], "model": body["model"], "usage": {}}

    def _chat(self, body: dict[str, Any]) -> None:
        prompt = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        limit = body.get("max_tokens") or body.get("max_completion_tokens") or 256
        if body.get("logprobs") and limit == 1:
            return self._json(self._judge(body, prompt))
        if self.state.replies:
            text, finish = self.state.replies.pop(0), "stop"
        else:
            text, finish = self._echo(prompt, limit, body.get("stop") or [])
        usage = {
            "prompt_tokens": sum(len(words(m["content"])) for m in body["messages"]),
            "completion_tokens": len(text.split()),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            return self._stream(body, text, finish)
        message = {"role": "assistant", "content": text}
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
        if body.get("logprobs") and self.state.logprobs:
            k = body.get("top_logprobs") or 0
            ids = bool(body.get("return_tokens_as_token_ids"))
            choice["logprobs"] = fake_logprobs(text, k, ids)
        self._json({"object": "chat.completion", "choices": [choice], "usage": usage})

    @staticmethod
    def _echo(prompt: str, limit: int, stop: list[str]) -> tuple[str, str]:
        text = f"echo: {prompt}"
        for s in stop:
            if s in text:
                return text[: text.index(s)], "stop"
        pieces = text.split(" ")
        if len(pieces) > limit:
            return " ".join(pieces[:limit]), "length"
        return text, "stop"

    def _judge(self, body: dict[str, Any], prompt: str) -> dict[str, Any]:
        p = judge_probability(prompt)
        answer = "Yes" if p >= 0.5 else "No"
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": answer},
            "finish_reason": "length",
            "logprobs": None,
        }
        if self.state.logprobs:
            top = [("Yes", p * 0.9), ("No", (1 - p) * 0.9), (" yes", p * 0.1), ("Maybe", 1e-4)]
            top.sort(key=lambda t: -t[1])
            alternatives = [{"token": t, "logprob": math.log(q)} for t, q in top]
            alternatives = alternatives[: body.get("top_logprobs") or 0]
            chosen = {"token": answer, "logprob": math.log(0.9 * (p if answer == "Yes" else 1 - p))}
            choice["logprobs"] = {"content": [{**chosen, "top_logprobs": alternatives}]}
        return {"object": "chat.completion", "choices": [choice], "usage": {}}

    def _stream(self, body: dict[str, Any], text: str, finish: str) -> None:
        with self.state.lock:
            broken = self.state.stream_breaks.pop(0) if self.state.stream_breaks else None
        self.protocol_version = "HTTP/1.1"  # chunked; this connection still closes after
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pieces = [w + " " for w in text.split(" ")]
        pieces[-1] = pieces[-1][:-1]
        events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
        events += [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        chunks = [f"data: {json.dumps(event)}\n\n".encode() for event in events]
        chunks.append(b": keep-alive comment\n\ndata: [DONE]\n\n")
        if broken is not None:
            how, after = broken
            chunks = chunks[: len(events) if after is None else 1 + after]
            if how == "cut":  # half of the next event, then the connection drops
                chunks.append(b'data: {"choices": [{"index": 0, "del')
        for chunk in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        if broken is not None and broken[0] == "cut":
            self.close_connection = True
            return  # no closing chunk: the body ends mid-stream
        self.wfile.write(b"0\r\n\r\n")

    def _json(
        self, payload: dict[str, Any], status: int = 200, headers: dict | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        error = {"message": message, "type": "fake_error", "code": status}
        self._json({"error": error}, status, headers)


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # concurrency tests open many connections at once
    daemon_threads = True


class FakeOpenAIServer:
    """``with FakeOpenAIServer() as server:`` then point a client at ``server.url``."""

    def __init__(self) -> None:
        self.state = ServerState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
