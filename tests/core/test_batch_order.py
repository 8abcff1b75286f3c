"""The order training batches are drawn in: seeded, and grouped by length when asked."""

from __future__ import annotations

import numpy as np
import pytest

from ragdistill.distill.loop import batch_orders, epoch_order, input_lengths
from ragdistill.recipes.schema import TrainSpec

# Short titles beside long passages, interleaved: the corpus shape grouping is for.
N = 403
LENGTHS = [10 if i % 3 == 0 else 200 + i for i in range(N)]


def padded_tokens(order: np.ndarray, lengths: list[int], batch_size: int) -> int:
    """What a step reads when every batch pads to its longest input."""
    return sum(
        max(lengths[i] for i in order[s : s + batch_size]) * len(order[s : s + batch_size])
        for s in range(0, len(order), batch_size)
    )


def test_plain_order_is_the_seeded_permutation():
    expected = np.random.default_rng([7, 2]).permutation(N)
    np.testing.assert_array_equal(epoch_order(N, 7, 2), expected)


def test_grouped_order_is_a_repeatable_permutation_that_changes_each_epoch():
    first = epoch_order(N, 7, 0, batch_size=8, lengths=LENGTHS)
    assert sorted(first.tolist()) == list(range(N))
    np.testing.assert_array_equal(first, epoch_order(N, 7, 0, batch_size=8, lengths=LENGTHS))
    assert not np.array_equal(first, epoch_order(N, 7, 1, batch_size=8, lengths=LENGTHS))


def test_grouping_puts_titles_together_and_pads_less():
    plain = epoch_order(N, 7, 0)
    grouped = epoch_order(N, 7, 0, batch_size=8, lengths=LENGTHS)
    # 135 titles: a random batch of 8 almost always holds a passage, a grouped one often not.
    title_only = [s for s in range(0, 400, 8) if all(LENGTHS[i] == 10 for i in grouped[s : s + 8])]
    assert len(title_only) >= 12
    assert padded_tokens(grouped, LENGTHS, 8) < 0.8 * padded_tokens(plain, LENGTHS, 8)


def test_the_partial_batch_stays_last():
    grouped = epoch_order(N, 7, 0, batch_size=8, lengths=LENGTHS)
    tail = grouped[400:]  # 403 = 50 full batches of 8 and 3 left over
    assert len(tail) == 3
    assert set(tail.tolist()).isdisjoint(grouped[:400].tolist())


def test_grouped_batches_are_shuffled_not_sorted_by_length():
    grouped = epoch_order(N, 7, 0, batch_size=8, lengths=LENGTHS)
    longest = [max(LENGTHS[i] for i in grouped[s : s + 8]) for s in range(0, 400, 8)]
    assert longest != sorted(longest, reverse=True) and longest != sorted(longest)


def test_lengths_of_the_wrong_size_are_refused():
    with pytest.raises(ValueError, match="lengths has 3 entries for 403 inputs"):
        epoch_order(N, 7, 0, batch_size=8, lengths=[1, 2, 3])


def test_input_lengths_count_characters_of_texts_and_pairs():
    assert input_lengths(["abc", ("ab", ["c", "de"]), 5]) == [3, 5, 1]


def test_batch_orders_follow_the_spec():
    texts = ["t" * n for n in LENGTHS]
    plain = batch_orders(texts, TrainSpec(batch_size=8, seed=7))
    grouped = batch_orders(texts, TrainSpec(batch_size=8, seed=7, group_by_length=True))
    np.testing.assert_array_equal(plain(3), epoch_order(N, 7, 3))
    np.testing.assert_array_equal(grouped(3), epoch_order(N, 7, 3, batch_size=8, lengths=LENGTHS))
