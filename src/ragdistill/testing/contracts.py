"""Reusable pytest suites for the four stage contracts, in the spirit of ``langchain-tests``.

A plugin's test module subclasses one suite and provides a ``component`` fixture; every
test of the suite then runs against that component::

    import pytest
    from ragdistill.testing.contracts import EmbedderContract

    class TestMyEmbedder(EmbedderContract):
        @pytest.fixture(scope="class")
        @classmethod
        def component(cls):
            return MyEmbedder(model="tiny")

The suites use no fixture but ``component`` and run coroutines with ``asyncio.run``, so
they work without pytest-asyncio. Class attributes tune them (tolerances, and switches
for behaviour a backend cannot promise).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from ragdistill.contracts import (
    Embedder,
    Generation,
    Generator,
    QueryRequest,
    QueryTransformer,
    Reranker,
    request,
)

#: 10,000 characters: longer than any small model's context, which must truncate.
LONG_TEXT = ("retrieval augmented generation distills teachers into students " * 200)[:10_000]
UNICODE_TEXTS = [
    "naïve café déjà vu",
    "日本語のテキスト",
    "emoji 😀🚀🎉 party",
    "Ελληνικά и русский",
]
TEXTS = ["what is the capital of france", "paris is the capital of france", "dogs bark", "x"]
QUERY = "what is the capital of france"
DOCUMENTS = [
    "paris is the capital and largest city of france",
    "the dog ran across the field",
    "france is a country in western europe",
    "water boils at one hundred degrees",
]


class EmbedderContract:
    """Checks an :class:`~ragdistill.contracts.Embedder`."""

    #: Absolute tolerance when comparing vectors computed in different batches.
    atol: float = 1e-4
    #: True: vectors must have unit length; None: not checked.
    normalized: bool | None = None

    def test_is_embedder(self, component: Any) -> None:
        assert isinstance(component, Embedder)

    def test_shape_and_dtype(self, component: Embedder) -> None:
        out = component.embed_many(TEXTS)
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float32
        assert out.shape == (len(TEXTS), component.dimension)
        assert np.isfinite(out).all()
        assert component.embed(TEXTS[0]).shape == (component.dimension,)
        assert component.embed_query(QUERY).shape == (component.dimension,)
        assert component.embed_documents(DOCUMENTS).shape == (len(DOCUMENTS), component.dimension)

    def test_batch_equals_single(self, component: Embedder) -> None:
        batched = component.embed_many(TEXTS)
        singles = np.stack([component.embed(t) for t in TEXTS])
        np.testing.assert_allclose(batched, singles, atol=self.atol)
        np.testing.assert_allclose(
            component.embed_many(TEXTS, batch_size=3), batched, atol=self.atol
        )

    def test_deterministic(self, component: Embedder) -> None:
        np.testing.assert_allclose(component.embed_many(TEXTS), component.embed_many(TEXTS))

    def test_async_matches_sync(self, component: Embedder) -> None:
        sync = component.embed_many(TEXTS, input_type="query")
        result = asyncio.run(component.aembed_many(TEXTS, input_type="query"))
        np.testing.assert_allclose(result, sync, atol=self.atol)
        one = asyncio.run(component.aembed(TEXTS[0]))
        np.testing.assert_allclose(one, component.embed(TEXTS[0]), atol=self.atol)

    def test_empty_input(self, component: Embedder) -> None:
        assert component.embed_many([]).shape[0] == 0
        assert asyncio.run(component.aembed_many([])).shape[0] == 0

    def test_empty_string(self, component: Embedder) -> None:
        assert component.embed("").shape == (component.dimension,)

    def test_long_input(self, component: Embedder) -> None:
        out = component.embed_many([LONG_TEXT, "short"])
        assert out.shape == (2, component.dimension)
        assert np.isfinite(out).all()

    def test_unicode(self, component: Embedder) -> None:
        out = component.embed_many(UNICODE_TEXTS)
        assert out.shape == (len(UNICODE_TEXTS), component.dimension)

    def test_bare_string_refused(self, component: Embedder) -> None:
        with pytest.raises(TypeError):
            component.embed_many("one string, not a list")

    def test_normalized(self, component: Embedder) -> None:
        if self.normalized is None:
            pytest.skip("normalization not declared (set normalized = True/False)")
        norms = np.linalg.norm(component.embed_many(TEXTS), axis=1)
        assert np.allclose(norms, 1.0, atol=1e-3) == self.normalized


class RerankerContract:
    """Checks a :class:`~ragdistill.contracts.Reranker`."""

    atol: float = 1e-4

    def test_is_reranker(self, component: Any) -> None:
        assert isinstance(component, Reranker)

    def test_scores_shape(self, component: Reranker) -> None:
        scores = component.score(QUERY, DOCUMENTS)
        assert isinstance(scores, np.ndarray)
        assert scores.dtype == np.float32
        assert scores.shape == (len(DOCUMENTS),)
        assert np.isfinite(scores).all()

    def test_batch_equals_single(self, component: Reranker) -> None:
        pairs = [(QUERY, d) for d in DOCUMENTS] + [("dogs", DOCUMENTS[1])]
        batched = component.score_many(pairs)
        singles = np.concatenate([component.score_many([p]) for p in pairs])
        np.testing.assert_allclose(batched, singles, atol=self.atol)
        np.testing.assert_allclose(
            component.score_many(pairs, batch_size=2), batched, atol=self.atol
        )

    def test_deterministic(self, component: Reranker) -> None:
        np.testing.assert_allclose(
            component.score(QUERY, DOCUMENTS), component.score(QUERY, DOCUMENTS)
        )

    def test_async_matches_sync(self, component: Reranker) -> None:
        sync = component.score(QUERY, DOCUMENTS)
        np.testing.assert_allclose(
            asyncio.run(component.ascore(QUERY, DOCUMENTS)), sync, atol=self.atol
        )
        ranked = asyncio.run(component.arerank(QUERY, DOCUMENTS, top_n=2))
        assert [r.index for r in ranked] == [
            r.index for r in component.rerank(QUERY, DOCUMENTS, top_n=2)
        ]

    def test_rerank_order(self, component: Reranker) -> None:
        scores = component.score(QUERY, DOCUMENTS)
        ranked = component.rerank(QUERY, DOCUMENTS)
        assert sorted(r.index for r in ranked) == list(range(len(DOCUMENTS)))
        assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
        for r in ranked:
            assert r.text == DOCUMENTS[r.index]
            assert r.score == pytest.approx(float(scores[r.index]), abs=self.atol)

    def test_top_n(self, component: Reranker) -> None:
        full = component.rerank(QUERY, DOCUMENTS)
        assert [r.index for r in component.rerank(QUERY, DOCUMENTS, top_n=2)] == [
            r.index for r in full[:2]
        ]
        assert component.rerank(QUERY, DOCUMENTS, top_n=0) == []
        assert len(component.rerank(QUERY, DOCUMENTS, top_n=99)) == len(DOCUMENTS)
        with pytest.raises(ValueError):
            component.rerank(QUERY, DOCUMENTS, top_n=-1)

    def test_empty_input(self, component: Reranker) -> None:
        assert component.score(QUERY, []).shape == (0,)
        assert component.rerank(QUERY, []) == []
        assert component.score_many([]).shape == (0,)

    def test_long_input(self, component: Reranker) -> None:
        scores = component.score_many([(QUERY, LONG_TEXT), (LONG_TEXT, "short"), (QUERY, "x")])
        assert scores.shape == (3,)
        assert np.isfinite(scores).all()

    def test_unicode(self, component: Reranker) -> None:
        assert component.score(UNICODE_TEXTS[2], UNICODE_TEXTS).shape == (len(UNICODE_TEXTS),)

    def test_bare_string_refused(self, component: Reranker) -> None:
        with pytest.raises(TypeError):
            component.score(QUERY, "one document, not a list")
        with pytest.raises(TypeError):
            component.score_many([QUERY])  # type: ignore[list-item]


class QueryTransformerContract:
    """Checks a :class:`~ragdistill.contracts.QueryTransformer`."""

    #: False for transformers that sample: batch/single and sync/async are then not compared.
    deterministic: bool = True
    history = (
        {"role": "user", "content": "tell me about france"},
        {"role": "assistant", "content": "france is a country in europe"},
    )

    def _check(self, out: Any, n: int) -> None:
        assert isinstance(out, list)
        assert 1 <= len(out) <= n
        assert all(isinstance(q, str) and q.strip() for q in out)

    def test_is_query_transformer(self, component: Any) -> None:
        assert isinstance(component, QueryTransformer)

    def test_rewrite(self, component: QueryTransformer) -> None:
        self._check(component.transform("what is its capital?", self.history), 1)
        assert isinstance(component.rewrite("what is its capital?", self.history), str)

    def test_expand(self, component: QueryTransformer) -> None:
        self._check(component.expand(QUERY, num_queries=3), 3)

    def test_batch_equals_single(self, component: QueryTransformer) -> None:
        if not self.deterministic:
            pytest.skip("not deterministic")
        reqs = [QueryRequest(QUERY), QueryRequest("and its size?", num_queries=2)]
        batched = component.transform_many(reqs)
        assert batched == [component.transform_many([r])[0] for r in reqs]
        assert component.transform_many(reqs, batch_size=1) == batched

    def test_async_matches_sync(self, component: QueryTransformer) -> None:
        out = asyncio.run(component.atransform(QUERY, num_queries=2))
        self._check(out, 2)
        if self.deterministic:
            assert out == component.transform(QUERY, num_queries=2)

    def test_empty_input(self, component: QueryTransformer) -> None:
        assert component.transform_many([]) == []

    def test_long_input(self, component: QueryTransformer) -> None:
        self._check(component.transform(LONG_TEXT), 1)
        history = [
            {"role": "user", "content": LONG_TEXT},
            {"role": "assistant", "content": LONG_TEXT},
        ]
        self._check(component.transform("and then?", history, num_queries=2), 2)

    def test_unicode(self, component: QueryTransformer) -> None:
        for text in UNICODE_TEXTS:
            self._check(component.transform(text), 1)

    def test_bare_string_refused(self, component: QueryTransformer) -> None:
        with pytest.raises(TypeError):
            component.transform_many("one query, not a list")  # type: ignore[arg-type]


class GeneratorContract:
    """Checks a :class:`~ragdistill.contracts.Generator`; all requests decode greedily."""

    max_new_tokens: int = 8
    #: False where left padding changes a backend's numerics enough to change tokens.
    batch_matches_single: bool = True
    #: False for backends whose stream may differ from generate in whitespace only.
    stream_matches_generate: bool = True

    def _req(self, prompt: Any, **params: Any) -> Any:
        return request(prompt, max_new_tokens=self.max_new_tokens, temperature=0.0, **params)

    def _check(self, gen: Any) -> None:
        assert isinstance(gen, Generation)
        assert isinstance(gen.text, str)
        assert gen.finish_reason in ("stop", "length")
        assert all(isinstance(v, int) and v >= 0 for v in gen.usage.values())
        if "completion_tokens" in gen.usage:
            assert gen.usage["completion_tokens"] <= self.max_new_tokens

    def test_is_generator(self, component: Any) -> None:
        assert isinstance(component, Generator)

    def test_generate(self, component: Generator) -> None:
        self._check(component.generate_many([self._req("hello, who are you?")])[0])
        messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": QUERY}]
        self._check(component.generate(messages, max_new_tokens=self.max_new_tokens))

    def test_greedy_is_deterministic(self, component: Generator) -> None:
        first = component.generate_many([self._req(QUERY)])[0]
        assert component.generate_many([self._req(QUERY)])[0].text == first.text

    def test_batch_equals_single(self, component: Generator) -> None:
        if not self.batch_matches_single:
            pytest.skip("batch_matches_single = False")
        reqs = [self._req(QUERY), self._req("a much longer prompt about dogs and the sea " * 3)]
        batched = [g.text for g in component.generate_many(reqs)]
        assert batched == [component.generate_many([r])[0].text for r in reqs]

    def test_async_matches_sync(self, component: Generator) -> None:
        sync = component.generate(QUERY, max_new_tokens=self.max_new_tokens)
        result = asyncio.run(component.agenerate(QUERY, max_new_tokens=self.max_new_tokens))
        self._check(result)
        assert result.text == sync.text

    def test_stream(self, component: Generator) -> None:
        req = self._req(QUERY)
        pieces = list(component.stream(req))
        assert all(isinstance(p, str) for p in pieces)

        async def collect() -> list[str]:
            return [p async for p in component.astream(req)]

        apieces = asyncio.run(collect())
        if self.stream_matches_generate:
            text = component.generate_many([req])[0].text
            assert "".join(pieces).strip() == text.strip()
            assert "".join(apieces).strip() == text.strip()

    def test_stop_string(self, component: Generator) -> None:
        full = component.generate_many([self._req(QUERY)])[0].text
        if len(full.strip()) < 4:
            pytest.skip("completion too short to pick a stop string from")
        middle = len(full) // 2
        stop = full[middle : middle + 2]
        cut = component.generate_many([self._req(QUERY, stop=[stop])])[0]
        assert stop not in cut.text
        assert cut.text == full[: full.find(stop)]
        assert cut.finish_reason == "stop"
        streamed = "".join(component.stream(self._req(QUERY, stop=[stop])))
        assert stop not in streamed

    def test_empty_input(self, component: Generator) -> None:
        assert component.generate_many([]) == []

    def test_long_input(self, component: Generator) -> None:
        self._check(component.generate_many([self._req(LONG_TEXT)])[0])

    def test_unicode(self, component: Generator) -> None:
        for gen in component.generate_many([self._req(t) for t in UNICODE_TEXTS]):
            self._check(gen)

    def test_bare_string_refused(self, component: Generator) -> None:
        with pytest.raises(TypeError):
            component.generate_many("one prompt, not a list of requests")  # type: ignore[arg-type]
