"""The component contracts: one abstract method per stage, the rest provided."""

from ragdistill.contracts.base import STAGES, Component, Stage
from ragdistill.contracts.embedder import Embedder, FloatArray, InputType
from ragdistill.contracts.generator import Generator, request
from ragdistill.contracts.messages import (
    Generation,
    GenerationRequest,
    Message,
    QueryRequest,
    TokenLogprobs,
    to_messages,
)
from ragdistill.contracts.query_transformer import PromptedQueryTransformer, QueryTransformer
from ragdistill.contracts.reranker import Pair, Reranker, ScoredDocument

CONTRACTS: dict[Stage, type[Component]] = {
    "embedder": Embedder,
    "reranker": Reranker,
    "query_transformer": QueryTransformer,
    "generator": Generator,
}


def stage_of(cls: type) -> Stage:
    """The stage a component class implements (its contract's ``stage``).

    TypeError if it subclasses no contract: a plugin's own contract (for a stage of its
    own) is a :class:`Component` subclass that sets ``stage``.
    """
    stage = getattr(cls, "stage", None) if isinstance(cls, type) else None
    if isinstance(cls, type) and issubclass(cls, Component) and isinstance(stage, str) and stage:
        return stage
    raise TypeError(
        f"{getattr(cls, '__qualname__', cls)!r} implements no stage contract: subclass one of "
        + ", ".join(c.__name__ for c in CONTRACTS.values())
        + " (or a Component subclass that sets `stage`)"
    )


__all__ = [
    "CONTRACTS",
    "STAGES",
    "Component",
    "Embedder",
    "FloatArray",
    "Generation",
    "GenerationRequest",
    "Generator",
    "InputType",
    "Message",
    "Pair",
    "PromptedQueryTransformer",
    "QueryRequest",
    "QueryTransformer",
    "Reranker",
    "ScoredDocument",
    "Stage",
    "TokenLogprobs",
    "request",
    "stage_of",
    "to_messages",
]
