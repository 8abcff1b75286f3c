"""When to retry and how long to wait: connection settings, a rate limiter, the retry rule.

Kept apart from the transport so the policy reads on its own: 408, 409, 429, 5xx and
connection errors are retried with exponential backoff and jitter, or after what a
``Retry-After`` / ``retry-after-ms`` header asks for; 401/403 raise
:class:`AuthenticationError` at once; other 4xx raise :class:`APIError` with the
server's message. Messages never contain the API key.
"""

from __future__ import annotations

import email.utils
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ragdistill.errors import ConfigError
from ragdistill_openai.errors import APIError, AuthenticationError, server_message

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = frozenset({408, 409, 429})
MAX_BACKOFF = 60.0
MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True)
class ClientSettings:
    """Connection options shared by every component; validated on construction."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 4
    requests_per_minute: float | None = None
    max_retries: int = 6
    retry_backoff: float = 0.5
    timeout: float = 60.0
    cache_dir: str | None = None
    cache: bool = True

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {self.base_url!r} "
                f"(e.g. {DEFAULT_BASE_URL} or http://localhost:8000/v1)"
            )
        rpm = self.requests_per_minute
        checks = [
            (self.max_concurrency < 1, f"max_concurrency must be >= 1, got {self.max_concurrency}"),
            (rpm is not None and rpm <= 0, f"requests_per_minute must be > 0, got {rpm}"),
            (self.max_retries < 0, f"max_retries must be >= 0, got {self.max_retries}"),
            (self.retry_backoff < 0, f"retry_backoff must be >= 0, got {self.retry_backoff}"),
            (self.timeout <= 0, f"timeout must be > 0 seconds, got {self.timeout}"),
        ]
        if problems := [message for failed, message in checks if failed]:
            raise ConfigError("; ".join(problems))

    def resolved_key(self) -> str | None:
        """The ``api_key`` option, else the ``api_key_env`` variable, else None."""
        return self.api_key or os.environ.get(self.api_key_env) or None


class RateLimiter:
    """Spaces request starts ``60 / per_minute`` seconds apart, across threads and tasks."""

    def __init__(self, per_minute: float | None) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next start slot; returns how long to wait for it."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now


def retry_delay(outcome: Any, *, attempt: int, url: str, settings: ClientSettings) -> float | None:
    """None if ``outcome`` (an httpx Response or transport error) succeeded, else the
    seconds to wait before retry ``attempt + 1``; raises when the failure is final."""
    import httpx

    status: int | None = None
    wait: float | None = None
    if isinstance(outcome, httpx.Response):
        status = outcome.status_code
        if status < 400:
            return None
        try:
            payload: Any = outcome.json()
        except ValueError:
            payload = None
        message = scrub(server_message(payload, outcome.text), settings)
        if status in (401, 403):
            raise AuthenticationError(auth_message(url, status, message, settings), status=status)
        if status < 500 and status not in RETRY_STATUSES:
            raise APIError(f"{url} returned {status}: {message}", status=status)
        reason = f"HTTP {status}: {message}"
        wait = retry_after(outcome.headers)
    else:
        reason = f"{type(outcome).__name__}: {outcome}"
    if attempt >= settings.max_retries:
        hint = (
            "lower requests_per_minute or max_concurrency"
            if status == 429
            else "check that the server is up and base_url is right"
        )
        raise APIError(
            f"{url} failed {attempt + 1} times; last error {reason}. "
            f"Retry later, raise max_retries, or {hint}",
            status=status,
        ) from (outcome if isinstance(outcome, Exception) else None)
    if wait is not None:
        return min(wait, MAX_RETRY_AFTER)
    backoff = min(MAX_BACKOFF, settings.retry_backoff * 2.0**attempt)
    return backoff * random.uniform(0.5, 1.0)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date) header asks for."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def auth_message(url: str, status: int, message: str, settings: ClientSettings) -> str:
    env = settings.api_key_env
    if settings.resolved_key() is None:
        fix = f"no API key was sent: set the {env} environment variable (or pass api_key= in code; a recipe takes api_key_env only)"
    elif settings.api_key:
        fix = "check the key (api_key_env or api_key=): it is wrong, expired or lacks access"
    else:
        fix = f"check the key in the {env} environment variable: wrong, expired or lacks access"
    return f"{url} refused the request ({status}: {message}); {fix}"


def scrub(text: str, settings: ClientSettings) -> str:
    """``text`` with the API key masked, should a server echo it back."""
    key = settings.resolved_key()
    return text.replace(key, "***") if key else text
