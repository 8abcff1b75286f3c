"""OpenAIJudgeReranker: yes/no log-odds scores, the no-logprobs fallback, the request."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from fake_server import FakeOpenAIServer

from ragdistill.errors import ConfigError
from ragdistill_openai import OpenAIJudgeReranker
from ragdistill_openai.judge import judge_score

QUERY = "what do cats eat"
DOCS = [
    "The stock market fell sharply on Monday.",
    "Cats eat meat: what a cat needs is protein.",
    "Some cats eat grass.",
]


def test_relevant_documents_rank_above_irrelevant_ones(
    server: FakeOpenAIServer, connection
) -> None:
    judge = OpenAIJudgeReranker("m", **connection)
    ranked = judge.rerank(QUERY, DOCS)
    assert [r.index for r in ranked] == [1, 2, 0]
    assert ranked[0].score > 0 > ranked[-1].score
    body = server.state.bodies[0][1]
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["top_logprobs"] == 5
    assert (
        "Is the document relevant to the query? Answer yes or no" in body["messages"][1]["content"]
    )


def test_async_scores_match(server: FakeOpenAIServer, connection) -> None:
    judge = OpenAIJudgeReranker("m", cache=False, **connection)
    np.testing.assert_array_equal(asyncio.run(judge.ascore(QUERY, DOCS)), judge.score(QUERY, DOCS))


def test_without_logprobs_the_text_gives_one_or_zero(server: FakeOpenAIServer, connection) -> None:
    server.state.logprobs = False
    judge = OpenAIJudgeReranker("m", **connection)
    assert judge.score(QUERY, DOCS).tolist() == [0.0, 1.0, 1.0]  # no order within a group


def test_judge_score_adds_spellings_and_floors_missing_tokens() -> None:
    def choice(top: dict[str, float]) -> dict:
        items = [{"token": t, "logprob": lp} for t, lp in top.items()]
        return {"logprobs": {"content": [{**items[0], "top_logprobs": items}]}}

    both = judge_score(choice({"Yes": math.log(0.3), " yes": math.log(0.3), "No": math.log(0.4)}))
    assert both == pytest.approx(math.log(0.6) - math.log(0.4))
    assert judge_score(choice({"YES.": -0.1}), floor=-20.0) == pytest.approx(-0.1 + 20.0)
    assert judge_score(choice({"▁no": -0.01, "maybe": -5}), floor=-10.0) == pytest.approx(
        -10 + 0.01
    )
    legacy = {"logprobs": {"top_logprobs": [{"yes": -1.0, "no": -2.0}]}}
    assert judge_score(legacy) == pytest.approx(1.0)
    assert judge_score({"message": {"content": "Yes."}, "logprobs": None}) == 1.0
    assert judge_score({"message": {"content": "Nope"}}) == 0.0


def test_long_documents_are_cut(server: FakeOpenAIServer, connection) -> None:
    judge = OpenAIJudgeReranker("m", max_document_chars=10, **connection)
    judge.score("q", ["x" * 100])
    assert "Document: " + "x" * 10 + "\n" in server.state.bodies[0][1]["messages"][1]["content"]


def test_prompt_must_name_both_fields(connection) -> None:
    with pytest.raises(ConfigError, match=r"\{document\}"):
        OpenAIJudgeReranker("m", prompt="Query: {query}", **connection)
    with pytest.raises(ConfigError, match="top_logprobs"):
        OpenAIJudgeReranker("m", top_logprobs=0, **connection)
