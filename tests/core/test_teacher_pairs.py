"""Teacher-paired batches: each query shares its batch with a passage its teacher ranks high."""

from __future__ import annotations

import numpy as np
import pytest

from ragdistill.stages.embedder.teacher_pairs import pair_up, paired_orders, teacher_partners

# Inputs 0..5 are passages, 6..11 queries; query 6 + i is passage i with some noise, so
# each query's teacher favourite is "its" passage.
DIM = 16
rng = np.random.default_rng(0)
PASSAGE_EMB = rng.normal(size=(6, DIM))
QUERY_EMB = PASSAGE_EMB + 0.1 * rng.normal(size=(6, DIM))
PASSAGES = list(range(6))
QUERIES = list(range(6, 12))


def test_partners_are_the_teachers_top_k_best_first():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.9, 0.1], [0.0, 2.0], [0.6, 0.8], [-1.0, 0.0]])
    # cosines of query 0: 0.994, 0, 0.6, -1 -> 0, 2, 1; query 1: 0.110, 1, 0.8, 0 -> 1, 2, 0
    np.testing.assert_array_equal(teacher_partners(q, p, k=3), [[0, 2, 1], [1, 2, 0]])
    np.testing.assert_array_equal(teacher_partners(q, p, k=10).shape, (2, 4))
    np.testing.assert_array_equal(teacher_partners(q, p, k=2, chunk=1), [[0, 2], [1, 2]])
    assert teacher_partners(q, p[:0]).shape == (2, 0)


def test_each_query_takes_its_best_free_partner_and_every_input_appears_once():
    # Queries 10 and 11 both want passage 0; whoever comes second takes passage 1.
    partners = np.array([[0, 1], [0, 1]])
    pairs, singles = pair_up([10, 11], partners, [0, 1, 2], np.random.default_rng(3))
    assert sorted(map(tuple, pairs.tolist())) in ([(10, 0), (11, 1)], [(10, 1), (11, 0)])
    assert singles.tolist() == [2]
    # All partners taken: the query stays single, and so does every untaken passage.
    pairs, singles = pair_up([10, 11], np.array([[0], [0]]), [0, 5], np.random.default_rng(3))
    assert len(pairs) == 1 and sorted(singles.tolist()) == sorted({10, 11, 5} - {pairs[0, 0]})


def orders(batch_size=4, lengths=None):
    partners = np.asarray(PASSAGES)[teacher_partners(QUERY_EMB, PASSAGE_EMB)]
    return paired_orders(
        12, QUERIES, partners, PASSAGES, seed=7, batch_size=batch_size, lengths=lengths
    )


def test_every_pair_shares_a_batch():
    order = orders()(0)
    assert sorted(order.tolist()) == list(range(12))
    batches = [set(order[s : s + 4].tolist()) for s in range(0, 12, 4)]
    for query in QUERIES:
        passage = query - 6  # its teacher favourite; no other query competes for it
        assert any({query, passage} <= batch for batch in batches), (query, batches)


def test_order_is_seeded_and_changes_each_epoch():
    first = orders()(0)
    np.testing.assert_array_equal(first, orders()(0))
    assert not np.array_equal(first, orders()(1))


def test_length_grouping_keeps_pairs_and_covers_every_input():
    lengths = [300, 20, 310, 25, 290, 30, 10, 12, 11, 9, 14, 13]
    order = orders(batch_size=4, lengths=lengths)(0)
    assert sorted(order.tolist()) == list(range(12))
    batches = [set(order[s : s + 4].tolist()) for s in range(0, 12, 4)]
    assert all(any({q, q - 6} <= b for b in batches) for q in QUERIES)


def test_inputs_that_are_neither_query_nor_passage_are_refused():
    partners = np.asarray(PASSAGES)[teacher_partners(QUERY_EMB, PASSAGE_EMB)]
    wrong = paired_orders(13, QUERIES, partners, PASSAGES, seed=7, batch_size=4)
    with pytest.raises(ValueError, match="cover 12 inputs, not 13"):
        wrong(0)
    with pytest.raises(ValueError, match="lengths has 2 entries for 12 inputs"):
        paired_orders(12, QUERIES, partners, PASSAGES, seed=7, batch_size=4, lengths=[1, 2])
