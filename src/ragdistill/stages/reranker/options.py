"""The reranker stage's own recipe options: its ``[reranker]`` table."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from ragdistill.recipes.schema import PluggableSpec
from ragdistill.stage import StageOptions


class CandidatesSpec(BaseModel):
    """How training and evaluation candidates are mined (``[reranker.candidates]``).

    ``embedder`` is the first stage (a registered embedder and its options) that
    retrieves the top ``k`` passages per query from the dataset's corpus (Chroma).
    The teacher scores all ``k``; the positive is its best candidate, and ``negatives``
    hard negatives are drawn from first-stage ranks ``window[0]..window[1]`` (1-based,
    inclusive), skipping near-duplicates of the positive (same text or document, or
    word-set Jaccard similarity >= ``dedup_threshold``). ``in_batch_negatives`` adds
    that many positives of other queries in the same batch to each query's list.
    """

    model_config = StageOptions.model_config
    embedder: PluggableSpec = Field(
        default_factory=lambda: PluggableSpec(
            kind="sentence-transformers", model="all-MiniLM-L6-v2"
        )
    )
    k: int = Field(50, ge=2, le=1000)
    #: Default: ranks 3..k (the top 2 are skipped: they are likely unjudged positives).
    window: tuple[int, int] | None = None
    negatives: int = Field(7, ge=1, le=256)
    in_batch_negatives: int = Field(0, ge=0, le=64)
    dedup_threshold: float = Field(0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _window_in_range(self) -> CandidatesSpec:
        if self.window is None:
            self.window = (min(3, self.k), self.k)
        low, high = self.window
        if not 1 <= low <= high <= self.k:
            raise ValueError(
                f"window {list(self.window)} must satisfy 1 <= start <= end <= k ({self.k}); "
                "it names first-stage ranks to draw hard negatives from"
            )
        return self


class RerankerOptions(StageOptions):
    candidates: CandidatesSpec = Field(default_factory=CandidatesSpec)
