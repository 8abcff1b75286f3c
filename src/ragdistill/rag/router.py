"""The online A/B: live requests split between a spec's control and treatment pipelines.

A request with a ``key`` (a user or session id) goes to the arm its salted hash falls
in, the same arm every time and in every process that uses the same salt; one without
a key is assigned at random. Every request is one committed row of a
:class:`~ragdistill.rag.request_log.RequestLog` before its answer is returned.

* **Shadow mode** runs the other arm on the same input too, in the router's own
  worker threads, off the response path: the caller never waits for it. Both rows are
  logged, the shadow row's ``pair_id`` naming the served one.
* **A failing treatment** is logged as the served row of its request, with its error
  (it counts against the treatment: intent to treat), and the control answers in its
  place, logged as a ``fallback`` row paired with it; the caller gets the control's
  answer (``arm`` says so) under the request's id. ``fallback=False`` re-raises
  instead. A failing control is logged and re-raised: there is nothing to fall back to.
* **Guardrails** watch the treatment's last served requests; a trip sends every later
  request to the control (assignment ``guardrail``), stops its shadow runs, is logged as
  an event and holds for any router that opens the same log until
  :meth:`PipelineRouter.reset_guardrail`.

Threading: the pipelines run in the caller's thread (``aanswer`` / ``aretrieve``: a
worker thread, so the event loop is never blocked); the log serialises its writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from ragdistill.contracts import to_messages
from ragdistill.contracts.messages import Message, MessageLike
from ragdistill.errors import ConfigError
from ragdistill.rag.components import ComponentPool
from ragdistill.rag.pipeline import Corpus, PipelineAnswer, RagPipeline, build_pipeline
from ragdistill.rag.request_log import RESET, START, TRIP, Event, LoggedRequest, RequestLog
from ragdistill.rag.spec import STAGE_ORDER, GuardrailSpec, PipelineSpec

logger = logging.getLogger(__name__)
#: Seconds between re-reads of the guardrail state, which another process may change.
REFRESH_S = 2.0


def key_hash(salt: str, key: str) -> str:
    """sha256 of the salt and the key: what the log keeps instead of the key."""
    return hashlib.sha256(f"{salt}\x00{key}".encode()).hexdigest()


def bucket(hashed: str) -> float:
    """A key's place in [0, 1), from its hash: below the treatment share -> treatment."""
    return int(hashed[:16], 16) / 2**64


def inputs_digest(salt: str, question: str, history: Sequence[Message]) -> str:
    """sha256 of the salt, question and history: equal inputs, equal digests."""
    blob = json.dumps({"question": question, "history": [m.to_dict() for m in history]})
    return hashlib.sha256(f"{salt}\x00{blob}".encode()).hexdigest()


class PipelineRouter:
    """Routes requests between ``control`` and ``treatment`` and logs each one.

    ``log`` is a :class:`RequestLog` (the caller closes it) or a path (the router opens
    and closes it). ``salt`` is mixed into every key's hash: keep it secret and the
    logged hashes cannot be matched to keys by hashing guesses. The questions are never
    logged; the queries the pipeline searched only with ``store_queries`` (without a
    query transformer they are the question). ``max_pending_shadow`` bounds the shadow
    runs waiting for a worker: past it a shadow run is skipped (``shadow_skipped``).
    """

    def __init__(
        self,
        control: RagPipeline,
        treatment: RagPipeline,
        log: RequestLog | str | Path,
        *,
        treatment_share: float = 0.5,
        shadow: bool = False,
        salt: str = "",
        guardrails: GuardrailSpec | None = None,
        control_name: str | None = None,
        treatment_name: str | None = None,
        rng_seed: int | None = None,
        fallback: bool = True,
        store_queries: bool = False,
        shadow_workers: int = 1,
        max_pending_shadow: int = 64,
        name: str = "pipeline",
    ) -> None:
        if not 0 <= treatment_share <= 1:
            raise ConfigError(f"treatment_share must be in [0, 1], got {treatment_share}")
        if shadow_workers < 1 or max_pending_shadow < 0:
            raise ConfigError("shadow_workers must be >= 1 and max_pending_shadow >= 0")
        self.control_name = control_name or control.name
        self.treatment_name = treatment_name or treatment.name
        if self.control_name == self.treatment_name:
            raise ConfigError(f"control and treatment are both named {self.control_name!r}; pass control_name= and treatment_name=")  # fmt: skip
        self.control, self.treatment = control, treatment
        self._pipes = {self.control_name: control, self.treatment_name: treatment}
        self.treatment_share, self.shadow, self.salt = treatment_share, shadow, salt
        self.guardrails = guardrails or GuardrailSpec()
        self.fallback, self.store_queries = fallback, store_queries
        self.max_pending_shadow, self.shadow_skipped = max_pending_shadow, 0
        self.name = name
        self._owns_log = not isinstance(log, RequestLog)
        self.log = RequestLog(log) if not isinstance(log, RequestLog) else log
        self._rng = random.Random(rng_seed)
        self._state_lock = threading.Lock()  # taken before the log's own lock
        self._pending_lock = threading.Lock()
        self._pending: set[Future[None]] = set()
        self._closed = False
        self._pool = ThreadPoolExecutor(shadow_workers, thread_name_prefix="ragdistill-shadow") if shadow else None  # fmt: skip
        self._trip: Event | None = None
        self._since, self._refreshed = 0.0, -math.inf
        self._refresh(force=True)
        self.log.add_event(START, None, self._describe())

    @classmethod
    def from_spec(
        cls,
        spec: PipelineSpec,
        corpus: Corpus,
        log: RequestLog | str | Path,
        *,
        index_dir: Path | str | None = None,
        pool: ComponentPool | None = None,
        **options: Any,
    ) -> PipelineRouter:
        """The spec's control and treatment, built (sharing ``pool``), routed as its
        ``[router]`` table says; ``options`` are further keywords of the constructor."""
        if spec.treatment is None:
            raise ConfigError("the online A/B needs two arms: name a `treatment` in the spec")
        pool = pool or ComponentPool()
        control = build_pipeline(spec, spec.control_arm, corpus, index_dir=index_dir, pool=pool)
        treatment = build_pipeline(spec, spec.treatment, corpus, index_dir=index_dir, pool=pool)
        r = spec.router
        settings: dict[str, Any] = {"treatment_share": r.treatment_share, "shadow": r.shadow,
                                    "salt": r.salt, "guardrails": r.guardrails, "name": spec.name}  # fmt: skip
        return cls(control, treatment, log, **{**settings, **options})

    # -- serving -------------------------------------------------------------------

    def answer(self, question: str, history: Sequence[MessageLike] = (), *,
               key: str | int | None = None, arm: str | None = None) -> PipelineAnswer:  # fmt: skip
        """Answer through the arm ``key`` is assigned to (``arm`` forces one); the
        result's ``arm`` is the arm that answered, ``request_id`` its log row's id."""
        return self._serve("answer", question, history, key, arm)

    def retrieve(self, question: str, history: Sequence[MessageLike] = (), *,
                 key: str | int | None = None, arm: str | None = None) -> PipelineAnswer:  # fmt: skip
        """:meth:`answer` without the generator: the contexts the arm would read."""
        return self._serve("retrieve", question, history, key, arm)

    async def aanswer(self, question: str, history: Sequence[MessageLike] = (), *,
                      key: str | int | None = None, arm: str | None = None) -> PipelineAnswer:  # fmt: skip
        """:meth:`answer` in a worker thread: the event loop is never blocked."""
        return await asyncio.to_thread(self._serve, "answer", question, history, key, arm)

    async def aretrieve(self, question: str, history: Sequence[MessageLike] = (), *,
                        key: str | int | None = None, arm: str | None = None) -> PipelineAnswer:  # fmt: skip
        return await asyncio.to_thread(self._serve, "retrieve", question, history, key, arm)

    def assign(self, key: str | int | None, *, arm: str | None = None) -> tuple[str, str | None, str]:  # fmt: skip
        """``(arm, key_hash, assignment)`` of a request: ``forced`` (``arm`` given),
        ``guardrail`` (tripped: the control), ``key`` (sticky by the salted hash) or
        ``random`` (no key)."""
        hashed = None
        if key is not None:
            if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
                raise ValueError(f"key must be a non-empty string or an int, got {key!r}")
            hashed = key_hash(self.salt, str(key))
        if arm is not None:
            if arm not in self._pipes:
                raise ValueError(f"no arm {arm!r}; arms: {', '.join(self._pipes)}")
            return arm, hashed, "forced"
        self._refresh()
        if self._trip is not None:
            return self.control_name, hashed, "guardrail"
        u = self._rng.random() if hashed is None else bucket(hashed)
        chosen = self.treatment_name if u < self.treatment_share else self.control_name
        return chosen, hashed, "random" if hashed is None else "key"

    def _serve(
        self,
        method: str,
        question: str,
        history: Sequence[MessageLike],
        key: str | int | None,
        force: str | None,
    ) -> PipelineAnswer:
        if self._closed:
            raise RuntimeError("the router is closed")
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        turns = to_messages(history)
        arm, hashed, assignment = self.assign(key, arm=force)
        base = {"key_hash": hashed, "assignment": assignment,
                "inputs_digest": inputs_digest(self.salt, question, turns)}  # fmt: skip
        out, row, exc = self._run(arm, method, question, turns, "served", None, base)
        if arm == self.treatment_name:
            self._check_guardrail()
        if out is not None:
            other = self.treatment_name if arm == self.control_name else self.control_name
            if self._pool is not None and (other == self.control_name or self._trip is None):
                self._submit_shadow(other, method, question, turns, row.request_id, base)
            return out
        if arm == self.treatment_name and self.fallback:
            out, _, exc = self._run(self.control_name, method, question, turns, "fallback",
                                    row.request_id, base)  # fmt: skip
            if out is not None:
                out.request_id = row.request_id
                return out
        assert exc is not None
        raise exc

    def _run(
        self,
        arm: str,
        method: str,
        question: str,
        history: Sequence[Message],
        role: str,
        pair_id: str | None,
        base: dict[str, Any],
    ) -> tuple[PipelineAnswer | None, LoggedRequest, Exception | None]:
        """One arm on one input, its row committed; the exception it raised, if any."""
        row = LoggedRequest(uuid.uuid4().hex, time.time(), arm, role, pair_id, **base)
        start = time.perf_counter()
        out: PipelineAnswer | None = None
        error: Exception | None = None
        try:
            out = getattr(self._pipes[arm], method)(question, history)
        except Exception as exc:  # logged, then the caller decides
            error = exc
            row.error = traceback.format_exception_only(type(exc), exc)[-1].strip()
        row.total_ms = (time.perf_counter() - start) * 1000
        if out is not None:
            row.answer = out.answer
            row.queries = list(out.queries) if self.store_queries else None
            row.contexts = [c.doc_id for c in out.contexts]
            row.seconds = dict(out.seconds)
            out.arm, out.request_id = arm, row.request_id
        self.log.add_request(row)
        return out, row, error

    def record_feedback(self, request_id: str, score: float, note: str | None = None) -> None:
        """Log a user's ``score`` of the answer with this ``request_id``; an id no
        answer carried raises :class:`~ragdistill.rag.request_log.UnknownRequestError`."""
        self.log.add_feedback(request_id, score, note)

    # -- shadow runs ---------------------------------------------------------------

    def _submit_shadow(self, arm: str, method: str, question: str,
                       history: Sequence[Message], pair_id: str, base: dict[str, Any]) -> None:  # fmt: skip
        assert self._pool is not None
        with self._pending_lock:
            if self._closed or len(self._pending) >= self.max_pending_shadow:
                self.shadow_skipped += 1
                return
            future = self._pool.submit(self._shadow, arm, method, question, history, pair_id, base)
            self._pending.add(future)
        future.add_done_callback(self._shadow_done)

    def _shadow(self, arm: str, method: str, question: str,
                history: Sequence[Message], pair_id: str, base: dict[str, Any]) -> None:  # fmt: skip
        try:
            self._run(arm, method, question, history, "shadow", pair_id, base)
        except Exception:  # the log failed: nothing reaches the caller, so say it here
            logger.exception("shadow run of %s for request %s was not logged", arm, pair_id)

    def _shadow_done(self, future: Future[None]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    @property
    def pending_shadow(self) -> int:
        """Shadow runs submitted and not yet logged."""
        with self._pending_lock:
            return len(self._pending)

    def wait_for_shadow(self, timeout: float | None = None) -> bool:
        """Wait until every submitted shadow run is logged; False if ``timeout`` passed."""
        with self._pending_lock:
            pending = list(self._pending)
        return not wait(pending, timeout).not_done

    # -- guardrails ----------------------------------------------------------------

    @property
    def tripped(self) -> str | None:
        """Why the guardrail sent all traffic to the control; None while it has not."""
        self._refresh()
        trip = self._trip
        return None if trip is None else str(trip.detail.get("reason", "tripped"))

    def reset_guardrail(self) -> None:
        """Send the treatment its share again; its guardrail window starts afresh."""
        with self._state_lock:
            after = None if self._trip is None else self._trip.detail
            event = self.log.add_event(RESET, self.treatment_name, {"after": after})
            self._trip, self._since = None, event.created

    def _refresh(self, *, force: bool = False) -> None:
        """Re-read the trip in force (another process may have tripped or reset it)."""
        now = time.monotonic()
        if not force and now - self._refreshed < REFRESH_S:
            return
        with self._state_lock:
            self._trip, self._since = self.log.guardrail_state(self.treatment_name)
            self._refreshed = now

    def _check_guardrail(self) -> None:
        g = self.guardrails
        with self._state_lock:
            if self._trip is not None:
                return
            rows = self.log.recent_served(self.treatment_name, g.window, since=self._since)
            if len(rows) < g.min_requests:
                return
            rate = sum(failed for failed, _ in rows) / len(rows)
            times = [ms for failed, ms in rows if not failed and ms is not None]
            p95 = float(np.percentile(times, 95)) if times else math.nan
            over = f"over the treatment's last {len(rows)} requests"
            if rate > g.max_error_rate:
                reason = f"error rate {rate:.1%} {over} is above max_error_rate {g.max_error_rate:.1%}"  # fmt: skip
            elif g.max_p95_ms is not None and p95 > g.max_p95_ms:
                reason = f"p95 latency {p95:,.0f} ms {over} is above max_p95_ms {g.max_p95_ms:,.0f}"  # fmt: skip
            else:
                return
            detail = {"reason": reason, "error_rate": rate, "p95_ms": p95, "requests": len(rows)}
            self._trip = self.log.add_event(TRIP, self.treatment_name, detail)
        logger.warning("pipeline router %s: guardrail tripped, every request now goes to %s: %s",
                       self.name, self.control_name, reason)  # fmt: skip

    # -- lifetime ------------------------------------------------------------------

    def _describe(self) -> dict[str, Any]:
        """What the log's ``router_start`` event keeps (never the salt itself)."""
        stages = {n: p.stages for n, p in self._pipes.items()}
        control, treatment = stages[self.control_name], stages[self.treatment_name]
        differs = [s for s in STAGE_ORDER if (s in control) != (s in treatment)
                   or (s in control and control[s].spec.key() != treatment[s].spec.key())]  # fmt: skip
        return {
            "name": self.name, "control": self.control_name, "treatment": self.treatment_name,
            "treatment_share": self.treatment_share, "shadow": self.shadow,
            "salted": bool(self.salt), "fallback": self.fallback,
            "guardrails": self.guardrails.model_dump(), "differs": differs,
            "components": {n: {s: {"source": b.spec.source, "class": type(b.component).__name__}
                               for s, b in st.items()} for n, st in stages.items()},
        }  # fmt: skip

    def close(self) -> None:
        """Wait for the shadow runs in flight, then close the log if the router opened it."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._owns_log:
            self.log.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> PipelineRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> PipelineRouter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
