"""Which texts train an embedder student when ``max_texts`` caps them."""

from __future__ import annotations

from ragdistill.stages.embedder.pipeline import balanced_sample


def _pool(docs: int, queries: int) -> list[tuple[str, str]]:
    pool = [(f"passage {i}", "document") for i in range(docs)]
    return pool + [(f"question {i}", "query") for i in range(queries)]


def _kinds(pairs: list[tuple[str, str]]) -> dict[str, int]:
    return {k: sum(1 for _, kind in pairs if kind == k) for k in ("document", "query")}


def test_a_question_heavy_pool_still_gives_half_passages():
    # SQuAD's shape: ten questions a paragraph; a plain sample kept about 1 passage in 11.
    sample = balanced_sample(_pool(100, 1000), 40, seed=0)
    assert _kinds(sample) == {"document": 20, "query": 20}


def test_a_short_side_is_kept_whole_and_the_other_fills_the_rest():
    assert _kinds(balanced_sample(_pool(5, 100), 40, seed=0)) == {"document": 5, "query": 35}
    assert _kinds(balanced_sample(_pool(100, 3), 40, seed=0)) == {"document": 37, "query": 3}


def test_sample_is_seeded_distinct_and_in_pool_order():
    pool = _pool(50, 50)
    sample = balanced_sample(pool, 21, seed=7)
    assert sample == balanced_sample(pool, 21, seed=7)
    assert sample != balanced_sample(pool, 21, seed=8)
    assert len(set(sample)) == 21 and _kinds(sample) == {"document": 10, "query": 11}
    assert [pool.index(p) for p in sample] == sorted(pool.index(p) for p in sample)
