"""Generator losses (sequence-kd, token-kd, reverse-kl, gjsd) against hand-computed values.

The recurring example, one answer token, vocabulary of 4, teacher top-k = 2:
  student logits log([1, 2, 3, 4])  -> q = [.1, .2, .3, .4]
  teacher top ids [0, 1], log-probs log([.5, .3])  -> p = [.5, .3] + tail .2
  bucket outcomes (token 0, token 1, rest): p = [.5, .3, .2], q = [.1, .2, .7]
  renormalize outcomes (token 0, token 1): p = [.625, .375], q = [1/3, 2/3]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from ragdistill.errors import ConfigError
from ragdistill.losses import DistillationLoss, LossInputError, OptionError
from ragdistill.losses.text import (
    GeneralizedJSDLoss,
    ReverseKLLoss,
    SequenceKDLoss,
    TokenKDLoss,
    generalized_jsd,
    sequence_kd,
    sparse_reverse_kl,
    token_kd,
)

ln = math.log
P_BUCKET, Q_BUCKET = [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]
P_RENORM, Q_RENORM = [0.625, 0.375], [1 / 3, 2 / 3]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * ln(a / b) for a, b in zip(p, q) if a > 0)


def normalize(xs: list[float]) -> list[float]:
    return [x / sum(xs) for x in xs]


def logits(*positions: list[float]) -> torch.Tensor:
    """``[1, T, V]`` logits whose softmax at each position is ``positions`` normalised."""
    return torch.tensor([[[ln(x) for x in probs] for probs in positions]])


def example(
    ids: list[int] | None = None, probs: list[float] | None = None
) -> dict[str, torch.Tensor]:
    """The recurring example as forward's arguments (``probs`` 0 marks a padding slot)."""
    ids = [0, 1] if ids is None else ids
    probs = [0.5, 0.3] if probs is None else probs
    lp = [ln(p) if p > 0 else -math.inf for p in probs]
    return {
        "student": logits([1, 2, 3, 4]),
        "teacher": torch.tensor([[1]]),
        "mask": torch.tensor([[True]]),
        "top_ids": torch.tensor([[ids]]),
        "top_logprobs": torch.tensor([[lp]]),
    }


def value(loss: DistillationLoss, **batch: Any) -> float:
    return float(loss(batch.pop("student"), batch.pop("teacher"), **batch).item())


# --- sequence-kd -----------------------------------------------------------------------


def test_cross_entropy_is_minus_log_softmax_of_target() -> None:
    # softmax([1, 2, 1, 1]) = [.2, .4, .2, .2]; target 1 -> -log .4
    loss = SequenceKDLoss()
    got = value(
        loss, student=logits([1, 2, 1, 1]), teacher=torch.tensor([[1]]), mask=torch.ones(1, 1)
    )
    assert got == pytest.approx(-ln(0.4), rel=1e-6)


def test_label_smoothing() -> None:
    # (1 - e) * -log q_y + e * mean_v(-log q_v), q = [.2, .4, .2, .2], e = .1
    expected = 0.9 * -ln(0.4) + 0.1 * (3 * -ln(0.2) - ln(0.4)) / 4
    got = sequence_kd(logits([1, 2, 1, 1]), torch.tensor([[1]]), label_smoothing=0.1)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_mask_and_row_weights() -> None:
    # Row 0: q = [.2, .4, .2, .2] target 1 -> -ln .4; uniform target 0 -> ln 4.
    # Row 1: q = [.125, .125, .25, .5] target 3 -> ln 2; then a padding token whose id (99)
    # is not even in the vocabulary.
    student = torch.cat([logits([1, 2, 1, 1], [1, 1, 1, 1]), logits([1, 1, 2, 4], [1, 9, 1, 1])])
    teacher = torch.tensor([[1, 0], [3, 99]])
    mask = torch.tensor([[1, 1], [1, 0]])
    plain = value(SequenceKDLoss(), student=student, teacher=teacher, mask=mask)
    assert plain == pytest.approx((-ln(0.4) + ln(4) + ln(2)) / 3, rel=1e-6)
    weighted = value(
        SequenceKDLoss(),
        student=student,
        teacher=teacher,
        mask=mask,
        row_weight=torch.tensor([1.0, 0.5]),
    )
    # sum w m l / sum w m = (1 * (-ln .4 + ln 4) + .5 * ln 2) / (1 + 1 + .5)
    assert weighted == pytest.approx((-ln(0.4) + ln(4) + 0.5 * ln(2)) / 2.5, rel=1e-6)


# --- sparse distributions ----------------------------------------------------------------


def test_bucket_tail_at_t1_is_kl_of_coarse_distributions() -> None:
    # .5 ln(.5/.1) + .3 ln(.3/.2) + .2 ln(.2/.7)
    expected = 0.5 * ln(5) + 0.3 * ln(1.5) + 0.2 * ln(0.2 / 0.7)
    assert kl(P_BUCKET, Q_BUCKET) == pytest.approx(expected)
    assert value(TokenKDLoss(alpha=1.0), **example()) == pytest.approx(expected, rel=1e-5)


def test_renormalize_conditions_both_on_the_top_k() -> None:
    # p = [.5, .3] / .8, q = [.1, .2] / .3: .625 ln(.625 * 3) + .375 ln(.375 * 1.5)
    expected = 0.625 * ln(1.875) + 0.375 * ln(0.5625)
    got = value(TokenKDLoss(alpha=1.0, tail="renormalize"), **example())
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("tail", ["bucket", "renormalize"])
@pytest.mark.parametrize("pad_id", [0, 3])  # a repeat of a real top id, or a tail token
def test_padding_slot_is_ignored(tail: str, pad_id: int) -> None:
    loss = TokenKDLoss(alpha=1.0, tail=tail)  # type: ignore[arg-type]
    plain = value(loss, **example())
    padded = value(loss, **example([0, 1, pad_id], [0.5, 0.3, 0.0]))
    assert padded == pytest.approx(plain, rel=1e-6)


def test_top_k_covering_the_vocabulary_drops_the_tail() -> None:
    # Teacher top-4 = the whole vocabulary: KL of the full distributions, gradients finite.
    batch = example([0, 1, 2, 3], [0.25, 0.25, 0.25, 0.25])
    batch["student"].requires_grad_(True)
    student = batch["student"]
    loss = TokenKDLoss(alpha=1.0)(batch.pop("student"), batch.pop("teacher"), **batch)
    assert loss.item() == pytest.approx(kl([0.25] * 4, [0.1, 0.2, 0.3, 0.4]), rel=1e-5)
    loss.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()


# --- token-kd ------------------------------------------------------------------------------


def test_token_kd_alpha_0_is_cross_entropy() -> None:
    assert value(TokenKDLoss(alpha=0.0), **example()) == pytest.approx(-ln(0.2), rel=1e-6)


def test_token_kd_alpha_1_is_t_squared_kl_with_tempered_bucket() -> None:
    # T = 2: teacher outcomes exp(ln p / 2) = sqrt(p) with the tail as one pseudo-token,
    # student softmax(ln([1, 2, 3, 4]) / 2) = sqrt([1, 2, 3, 4]) / sum, coarse-grained.
    p = normalize([math.sqrt(0.5), math.sqrt(0.3), math.sqrt(0.2)])
    q = normalize([1, math.sqrt(2), math.sqrt(3) + 2])
    got = value(TokenKDLoss(temperature=2.0, alpha=1.0), **example())
    assert got == pytest.approx(4 * kl(p, q), rel=1e-5)
    mixed = value(TokenKDLoss(temperature=2.0, alpha=0.25), **example())
    assert mixed == pytest.approx(0.25 * 4 * kl(p, q) + 0.75 * -ln(0.2), rel=1e-5)


# --- reverse-kl ----------------------------------------------------------------------------


def test_reverse_kl() -> None:
    # .1 ln(.1/.5) + .2 ln(.2/.3) + .7 ln(.7/.2)
    expected = 0.1 * ln(0.2) + 0.2 * ln(2 / 3) + 0.7 * ln(3.5)
    assert value(ReverseKLLoss(), **example()) == pytest.approx(expected, rel=1e-5)
    renorm = value(ReverseKLLoss(tail="renormalize"), **example())
    assert renorm == pytest.approx(kl(Q_RENORM, P_RENORM), rel=1e-5)


def test_reverse_kl_floors_an_empty_teacher_tail() -> None:
    # The teacher's top-1 holds all its mass (log-prob 0): p = [1, 0], q = [.1, .9].
    # .1 ln(.1 / 1) + .9 ln(.9 / 1e-8)
    expected = 0.1 * ln(0.1) + 0.9 * ln(0.9 / 1e-8)
    got = value(ReverseKLLoss(), **example([0, 2], [1.0, 0.0]))
    assert got == pytest.approx(expected, rel=1e-5)
    half = value(ReverseKLLoss(alpha=0.5), **example([0, 2], [1.0, 0.0]))
    assert half == pytest.approx(0.5 * expected + 0.5 * -ln(0.2), rel=1e-5)


# --- gjsd ----------------------------------------------------------------------------------


def jsd(p: list[float], q: list[float], beta: float) -> float:
    m = [beta * a + (1 - beta) * b for a, b in zip(p, q)]
    return beta * kl(p, m) + (1 - beta) * kl(q, m)


def test_gjsd_ends_are_forward_and_reverse_kl() -> None:
    forward = value(GeneralizedJSDLoss(beta=0.0), **example())
    assert forward == pytest.approx(kl(P_BUCKET, Q_BUCKET), rel=1e-5)
    reverse = value(GeneralizedJSDLoss(beta=1.0), **example())
    assert reverse == pytest.approx(kl(Q_BUCKET, P_BUCKET), rel=1e-5)


def test_gjsd_mixture_by_hand() -> None:
    # beta = .5: m = ([.5, .3, .2] + [.1, .2, .7]) / 2 = [.3, .25, .45]
    m = [0.3, 0.25, 0.45]
    by_hand = 0.5 * (0.5 * ln(0.5 / 0.3) + 0.3 * ln(0.3 / 0.25) + 0.2 * ln(0.2 / 0.45))
    by_hand += 0.5 * (0.1 * ln(0.1 / 0.3) + 0.2 * ln(0.2 / 0.25) + 0.7 * ln(0.7 / 0.45))
    assert jsd(P_BUCKET, Q_BUCKET, 0.5) == pytest.approx(by_hand)
    assert m == pytest.approx([(a + b) / 2 for a, b in zip(P_BUCKET, Q_BUCKET)])
    got = value(GeneralizedJSDLoss(beta=0.5), **example())
    assert got == pytest.approx(by_hand, rel=1e-5)
    assert got < ln(2)
    # beta = .3 weighs the teacher .3 in the mixture, TRL's convention.
    skewed = value(GeneralizedJSDLoss(beta=0.3), **example())
    assert skewed == pytest.approx(jsd(P_BUCKET, Q_BUCKET, 0.3), rel=1e-5)


def test_gjsd_half_is_symmetric() -> None:
    # Swap the roles: the student's coarse distribution is [.5, .3, .2] and the teacher's
    # [.1, .2] + tail .7.
    batch = example(probs=[0.1, 0.2])
    batch["student"] = logits([0.5, 0.3, 0.1, 0.1])
    swapped = value(GeneralizedJSDLoss(beta=0.5), **batch)
    assert swapped == pytest.approx(value(GeneralizedJSDLoss(beta=0.5), **example()), rel=1e-5)
    assert generalized_jsd(
        batch["student"], batch["teacher"], batch["top_ids"], batch["top_logprobs"], beta=0.5
    ).item() == pytest.approx(jsd(Q_BUCKET, P_BUCKET, 0.5), rel=1e-5)


# --- common behaviour ------------------------------------------------------------------------

LOSSES: list[Callable[[], DistillationLoss]] = [
    SequenceKDLoss,
    lambda: TokenKDLoss(temperature=2.0),
    lambda: ReverseKLLoss(alpha=0.5),
    GeneralizedJSDLoss,
]


def two_rows() -> dict[str, Any]:
    """Two rows of 3 tokens, V = 5, k = 2; the padding token [0, 2] has only padding slots
    and ids outside the vocabulary, and row 1's second slots are padding."""
    torch.manual_seed(0)
    probs = torch.tensor([[[0.6, 0.3], [0.6, 0.3], [0.0, 0.0]], [[0.9, 0.0]] * 3])
    return {
        "student": torch.randn(2, 3, 5, requires_grad=True),
        "teacher": torch.tensor([[1, 2, 99], [4, 0, 0]]),
        "mask": torch.tensor([[1, 1, 0], [1, 0, 0]]),
        "top_ids": torch.tensor([[[1, 3], [1, 3], [99, 99]], [[4, 0]] * 3]),
        "top_logprobs": torch.log(probs).requires_grad_(True),
        "row_weight": torch.tensor([1.0, 0.5]),
        "unrelated": "ignored",
    }


@pytest.mark.parametrize("make", LOSSES)
def test_gradient_reaches_the_student_only(make: Callable[[], DistillationLoss]) -> None:
    batch = two_rows()
    student, top_logprobs = batch["student"], batch["top_logprobs"]
    loss = make()(batch.pop("student"), batch.pop("teacher"), **batch)
    loss.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()
    real = batch["mask"].bool()
    assert (student.grad[real].abs().sum(-1) > 0).all()
    assert (student.grad[~real] == 0).all()
    assert top_logprobs.grad is None


@pytest.mark.parametrize("make", LOSSES)
def test_no_real_token_is_zero_with_a_graph(make: Callable[[], DistillationLoss]) -> None:
    batch = two_rows()
    batch["mask"] = torch.zeros(2, 3)
    student = batch["student"]
    loss = make()(batch.pop("student"), batch.pop("teacher"), **batch)
    assert loss.item() == 0.0
    loss.backward()
    assert student.grad is not None and (student.grad == 0).all()


@pytest.mark.parametrize("make", LOSSES)
def test_serves_generators_and_query_transformers(make: Callable[[], DistillationLoss]) -> None:
    loss = make()
    assert loss.supports("generator") and loss.supports("query_transformer")
    assert not loss.supports("reranker")


def test_pure_functions_match_the_modules() -> None:
    batch = example()
    args = (batch["student"], batch["teacher"], batch["top_ids"], batch["top_logprobs"])
    assert token_kd(*args, alpha=1.0).item() == pytest.approx(kl(P_BUCKET, Q_BUCKET), rel=1e-5)
    assert sparse_reverse_kl(*args).item() == pytest.approx(kl(Q_BUCKET, P_BUCKET), rel=1e-5)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [TokenKDLoss, ReverseKLLoss, GeneralizedJSDLoss])
def test_sparse_losses_need_top_logprobs(cls: type[DistillationLoss]) -> None:
    batch = example()
    del batch["top_ids"]
    with pytest.raises(LossInputError, match=r"top_logprobs = k.*sequence-kd"):
        value(cls(), **batch)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"mask": None}, r"needs mask="),
        (
            {"mask": torch.ones(1, 2)},
            r"mask has shape \[1, 2\] but the answer tokens need \[1, 1\]",
        ),
        ({"teacher": torch.zeros(1, 1, 4)}, r"teacher's answer token ids.*logit-kl"),
        ({"teacher": torch.tensor([[7]])}, r"outside the student's vocabulary of 4"),
        ({"student": torch.zeros(1, 4)}, r"\[batch, tokens, vocab\], got \[1, 4\]"),
        ({"top_ids": torch.tensor([[0, 1]])}, r"must both be \[1, 1, k\]"),
        (
            {"top_ids": torch.tensor([[[0, 9]]])},
            r"top_ids hold ids outside the student's vocabulary",
        ),
        ({"top_logprobs": torch.tensor([[[2.0, 1.0]]])}, r"log_softmax values, not raw logits"),
        ({"top_logprobs": torch.full((1, 1, 2), -math.inf)}, r"no teacher top-k entry"),
        ({"row_weight": torch.ones(3)}, r"row_weight has shape \[3\] but the batch has 1 rows"),
    ],
)
def test_bad_batches_are_explained(change: dict[str, Any], match: str) -> None:
    batch = {**example(), **change}
    with pytest.raises(LossInputError, match=match):
        value(TokenKDLoss(), **batch)


@pytest.mark.parametrize(
    ("cls", "options", "key"),
    [
        (SequenceKDLoss, {"label_smoothing": 1.0}, "label_smoothing"),
        (TokenKDLoss, {"temperature": 0.0}, "temperature"),
        (TokenKDLoss, {"alpha": 1.5}, "alpha"),
        (TokenKDLoss, {"tail": "drop"}, "tail"),
        (ReverseKLLoss, {"alpha": -0.1}, "alpha"),
        (GeneralizedJSDLoss, {"beta": 1.1}, "beta"),
        (GeneralizedJSDLoss, {"temperature": math.inf}, "temperature"),
    ],
)
def test_out_of_range_options(
    cls: type[DistillationLoss], options: dict[str, Any], key: str
) -> None:
    with pytest.raises(OptionError) as info:
        cls(**options)
    assert info.value.key == key


def test_recipe_options_are_validated_then_range_checked() -> None:
    # The recipe loader: check_options types and names the keys, __init__ checks ranges.
    kwargs = TokenKDLoss.check_options({"temperature": 0}, where="losses[0]")
    with pytest.raises(OptionError, match="temperature"):
        TokenKDLoss(**kwargs)
    with pytest.raises(ConfigError, match=r"losses\[0\].tail"):
        TokenKDLoss.check_options({"tail": "drop"}, where="losses[0]")
    with pytest.raises(ConfigError, match=r"did you mean 'temperature'"):
        GeneralizedJSDLoss.check_options({"temprature": 2.0}, where="losses[0]")
