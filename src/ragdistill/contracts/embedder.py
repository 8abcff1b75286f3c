"""The embedder contract: texts in, one float32 vector per text out."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from ragdistill.contracts.base import Component, check_count, check_texts, progress
from ragdistill.errors import ContractError

InputType = Literal["query", "document"]
FloatArray = npt.NDArray[np.float32]


class Embedder(Component):
    """Implement :meth:`embed_batch`; the rest is provided.

    ``input_type`` lets asymmetric models (e5, bge, instruction-tuned) prefix queries
    and documents differently; symmetric models ignore it.
    """

    stage: ClassVar[Literal["embedder"]] = "embedder"
    _dimension: int | None = None

    @abstractmethod
    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        """Embed one batch: return an array of shape ``(len(texts), dimension)``."""

    @property
    def dimension(self) -> int:
        """Length of each vector (embeds a probe text the first time if unknown)."""
        if self._dimension is None:
            self.embed_many(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    def embed_many(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        batch_size: int | None = None,
        show_progress: bool = False,
    ) -> FloatArray:
        """Embed any number of texts in batches; returns ``(len(texts), dimension)``."""
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        parts = []
        with progress(len(items), enabled=show_progress, desc="embedding") as bar:
            for batch in self._batches(items, batch_size):
                parts.append(
                    self._checked(self.embed_batch(list(batch), input_type=input_type), len(batch))
                )
                bar.update(len(batch))
        return np.concatenate(parts)

    def embed(self, text: str, *, input_type: InputType = "document") -> FloatArray:
        """One text -> one vector of shape ``(dimension,)``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        vector: FloatArray = self.embed_many([text], input_type=input_type)[0]
        return vector

    def embed_query(self, text: str) -> FloatArray:
        return self.embed(text, input_type="query")

    def embed_documents(self, texts: Sequence[str], **kwargs: object) -> FloatArray:
        return self.embed_many(texts, input_type="document", **kwargs)  # type: ignore[arg-type]

    async def aembed_batch(
        self, texts: list[str], *, input_type: InputType = "document"
    ) -> FloatArray:
        """Async :meth:`embed_batch`; runs it in a thread unless a plugin overrides this."""
        result: FloatArray = await self._in_thread(self.embed_batch, texts, input_type=input_type)
        return result

    async def aembed_many(
        self,
        texts: Sequence[str],
        *,
        input_type: InputType = "document",
        batch_size: int | None = None,
    ) -> FloatArray:
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        parts = []
        for batch in self._batches(items, batch_size):
            out = await self.aembed_batch(list(batch), input_type=input_type)
            parts.append(self._checked(out, len(batch)))
        return np.concatenate(parts)

    async def aembed(self, text: str, *, input_type: InputType = "document") -> FloatArray:
        vector: FloatArray = (await self.aembed_many([text], input_type=input_type))[0]
        return vector

    def _checked(self, out: object, expected: int) -> FloatArray:
        name = type(self).__qualname__
        try:
            array = np.asarray(out, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ContractError(f"{name}.embed_batch must return numbers, got {type(out)}") from exc
        if array.ndim != 2:
            raise ContractError(
                f"{name}.embed_batch must return a 2-d array, got shape {array.shape}"
            )
        check_count(self, "embed_batch", array.shape[0], expected)
        if self._dimension is None:
            self._dimension = int(array.shape[1])
        elif array.shape[1] != self._dimension:
            raise ContractError(
                f"{name}.embed_batch returned dimension {array.shape[1]}, earlier {self._dimension}"
            )
        if not np.isfinite(array).all():
            raise ContractError(f"{name}.embed_batch returned NaN or infinite values")
        return array
