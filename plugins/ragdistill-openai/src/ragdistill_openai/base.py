"""What the four OpenAI components share: the client, and keeping the API key private."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ragdistill.errors import ConfigError
from ragdistill_openai.client import OpenAIClient
from ragdistill_openai.policy import ClientSettings

#: Options every component accepts (besides ``model``), passed to :class:`ClientSettings`.
CONNECTION_OPTIONS = (
    "base_url",
    "api_key",
    "api_key_env",
    "max_concurrency",
    "requests_per_minute",
    "max_retries",
    "retry_backoff",
    "timeout",
    "cache_dir",
    "cache",
)


class OpenAIBacked:
    """Mixin placed before a stage contract: ``class X(OpenAIBacked, Embedder)``."""

    #: Talks to a server: ragdistill refuses it as an artifact's loader unless the caller
    #: passes ``allow_network=True`` (see :func:`ragdistill.loading.is_network_loader`).
    network = True
    model: str
    client: OpenAIClient

    def _connect(self, model: str, settings: ClientSettings) -> None:
        self._attach(model, OpenAIClient(settings))

    def _attach(self, model: str, client: OpenAIClient) -> None:
        """Send through ``client``, which other components may share (see
        :meth:`ragdistill_openai.chat.OpenAIChatGenerator.sharing`)."""
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(
                f"{type(self).__name__}: model must be the server's model name, "
                f"e.g. 'text-embedding-3-small' or 'gpt-4o-mini', got {model!r}"
            )
        self.model = model
        self.client = client

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, where: str = "options") -> Any:
        instance = super().from_options(options, where=where)  # type: ignore[misc]
        # .options feeds manifests and reports; the key must not travel with them.
        instance.options.pop("api_key", None)
        return instance

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.client.base_url!r})"

    def close(self) -> None:
        """Close connections and the cache file; the component reopens them if used again."""
        self.client.close()

    async def aclose(self) -> None:
        await self.client.aclose()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def settings_from(values: Mapping[str, Any]) -> ClientSettings:
    """:class:`ClientSettings` from an ``__init__``'s locals (the connection options)."""
    return ClientSettings(**{name: values[name] for name in CONNECTION_OPTIONS})


def public_connection(settings: ClientSettings) -> dict[str, Any]:
    """The connection options of ``settings`` as a recipe table holds them, less ``api_key``."""
    return {name: getattr(settings, name) for name in CONNECTION_OPTIONS if name != "api_key"}
