"""Errors from an OpenAI-compatible server, with what to do about them."""

from __future__ import annotations

from ragdistill.errors import RagdistillError


class APIError(RagdistillError):
    """The server refused a request or kept failing after every retry."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(APIError):
    """401/403: the API key is missing, wrong or not allowed; never retried."""


class StreamCutError(APIError):
    """A streamed response stopped before ``data: [DONE]``: the connection broke
    mid-body, or the body ended without it. The streaming component retries it while
    nothing has reached its caller, and otherwise says how much text arrived."""


def server_message(payload: object, fallback: str) -> str:
    """The human message from an OpenAI-style ``{"error": {"message": ...}}`` body."""
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            if message:
                return str(message)
        elif isinstance(error, str) and error:
            return error
        detail = payload.get("detail")
        if detail:
            return str(detail)
    return fallback[:500] or "(empty response body)"
