"""What the generator stage trains and evaluates on: a question, its contexts, its answers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    """One passage put in a prompt, best-ranked first in :attr:`GenerationExample.contexts`."""

    text: str
    title: str = ""
    doc_id: str = ""


@dataclass(frozen=True)
class GenerationExample:
    """A question with the passages an app would put in its prompt.

    ``answers`` are gold answers where the dataset has them (SQuAD), else empty.
    ``answerable`` says whether a source passage of the question is among the contexts
    (``None``: unknown, e.g. BEIR queries with retrieved passages only); when ``False``
    the right reply is the prompt's abstention. ``group`` is what a held-out split keeps
    together (a SQuAD article), so no training question shares an evaluated one's source.
    """

    id: str
    question: str
    contexts: tuple[Context, ...]
    answers: tuple[str, ...] = ()
    answerable: bool | None = None
    group: str = ""
    #: The documents the question was written from (its gold passages' ``doc_id``).
    sources: tuple[str, ...] = ()
