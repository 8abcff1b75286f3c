"""Server-sent events as OpenAI-compatible servers send them: ``data: {json}`` lines.

Only ``data:`` lines matter here; comments (``:``), ``event:`` and blank lines are
skipped, and ``data: [DONE]`` ends the stream. An event carrying an ``error`` object
(how servers report a failure after the 200 has gone out) raises :class:`APIError`; a
body that ends before ``data: [DONE]`` raises :class:`StreamCutError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from ragdistill_openai.errors import APIError, StreamCutError, server_message

DONE = "[DONE]"


def iter_events(lines: Iterable[str], where: str) -> Iterator[dict[str, Any]]:
    for line in lines:
        data = _data(line)
        if data is None:
            continue
        if data == DONE:
            return
        yield _event(data, where)
    raise _no_done(where)


async def aiter_events(lines: AsyncIterable[str], where: str) -> AsyncIterator[dict[str, Any]]:
    async for line in lines:
        data = _data(line)
        if data is None:
            continue
        if data == DONE:
            return
        yield _event(data, where)
    raise _no_done(where)


def _no_done(where: str) -> StreamCutError:
    return StreamCutError(f"{where} ended the stream without data: [DONE]")


def _data(line: str) -> str | None:
    line = line.rstrip("\r\n")
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    return data or None


def _event(data: str, where: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise APIError(f"{where} streamed an event that is not JSON: {data[:200]!r}") from None
    if not isinstance(event, dict):
        raise APIError(f"{where} streamed an event that is not a JSON object: {data[:200]!r}")
    if event.get("error"):
        raise APIError(f"{where} failed while streaming: {server_message(event, data)}")
    return event
