"""The seq2seq query-transformer student: teacher-forced logits, targets that end as
``generate`` ends them, and saved artifacts the ``hf-seq2seq`` query transformer reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ragdistill.contracts import Message, QueryRequest
from ragdistill.errors import ConfigError
from ragdistill.generation.rows import TrainRow, teacher_batch
from ragdistill.generation.seq2seq import Seq2SeqStudent
from ragdistill.hf.query_transformers import Seq2SeqQueryTransformer
from ragdistill.losses.text import sequence_kd

#: (request, teacher output) pairs; every word is in the tiny tokenizer's vocabulary.
PAIRS = [
    (QueryRequest("what is the capital of france", num_queries=2), "paris ||| france"),
    (
        QueryRequest("where is it", (Message("user", "tell me about the river"),), num_queries=2),
        "river ||| sea water",
    ),
    (QueryRequest("which city", num_queries=2), "capital city ||| town"),
    (QueryRequest("how long is the night", num_queries=2), "night ||| moon"),
]
EXPANSION = {"task": "expand", "expansion": "separator", "num_queries": 2, "num_beams": 1}


@pytest.fixture(scope="module")
def separator_path(tiny_seq2seq_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny T5 with ``|||`` as one token and no dropout (so it overfits in a few steps).

    The stock tiny WordPiece tokenizer splits ``|||`` into three ``|``, which decode as
    ``"| | |"``: no longer a separator the query transformer splits on.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("seq2seq-separator")
    tokenizer = AutoTokenizer.from_pretrained(tiny_seq2seq_path)
    tokenizer.add_tokens(["|||"])
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_seq2seq_path, dropout_rate=0.0)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _rows(model, pairs=PAIRS):
    reader = Seq2SeqQueryTransformer("unused", **EXPANSION)  # only its source() is used
    return [(model.source_ids(reader.source(req)), model.target_ids(out)) for req, out in pairs]


def _fit(model, rows, steps: int) -> list[float]:
    """Adam on sequence-level KD over ``rows``; the loss at every step."""
    targets, extra = teacher_batch([TrainRow(tuple(s), tuple(t)) for s, t in rows])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for _ in range(steps):
        loss = sequence_kd(model(rows), targets, mask=extra["mask"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def trained_path(separator_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student overfit on :data:`PAIRS`, saved."""
    torch.manual_seed(0)
    model = Seq2SeqStudent(str(separator_path)).build()
    losses = _fit(model, _rows(model), steps=60)
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    folder = tmp_path_factory.mktemp("seq2seq-student")
    model.save_artifact(folder)
    return folder


def test_forward_returns_teacher_forced_logits_and_zero_padding(tiny_seq2seq_path):
    model = Seq2SeqStudent(str(tiny_seq2seq_path)).build().eval()
    rows = [
        (model.source_ids("what is the capital of france"), model.target_ids("paris")),
        (model.source_ids("where"), model.target_ids("the capital city of france")),
    ]
    with torch.no_grad():
        logits = model(rows)
        n_target = max(len(t) for _, t in rows)
        assert logits.shape == (2, n_target, model.vocab_size) == (2, n_target, model.output_dim)
        assert bool((logits[0, len(rows[0][1]) :] == 0).all())
        for b, (source, target) in enumerate(rows):  # the model's own label shifting
            plain = model.model(input_ids=torch.tensor([source]), labels=torch.tensor([target]))
            torch.testing.assert_close(logits[b, : len(target)], plain.logits[0])


def test_targets_end_with_eos_and_sources_are_cut_from_the_left(tiny_seq2seq_path):
    student = Seq2SeqStudent(str(tiny_seq2seq_path), max_length=8, max_target_length=4)
    model = student.build()
    eos = model.tokenizer.eos_token_id
    assert model.eos_id == eos == 1
    assert model.target_ids("paris") == [*model.tokenizer.encode("paris")[:-1], eos]
    assert model.target_ids("paris") == model.tokenizer.encode("paris")  # T5 appends </s>
    long = model.target_ids("the capital city of france")
    assert len(long) == 4 and long[-1] == eos and long.count(eos) == 1
    text = "tell me about the river ||| where is the capital of france"
    full = model.tokenizer.encode(text)
    assert model.source_ids(text) == [*full[:-1][-7:], eos]  # the query survives

    from tokenizers import processors

    # A tokenizer that appends nothing still gets its targets ended.
    model.tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A")
    bare = model.tokenizer.encode("paris")
    assert eos not in bare and model.target_ids("paris") == [*bare, eos]


def test_sequence_kd_falls_when_training(tiny_seq2seq_path):
    torch.manual_seed(0)
    model = Seq2SeqStudent(str(tiny_seq2seq_path)).build()
    losses = _fit(model, _rows(model), steps=60)  # with dropout: noisier than trained_path
    assert losses[-1] < 0.2 * losses[0], losses[::10]


def test_saved_student_reproduces_its_expansions_through_the_query_transformer(trained_path):
    reader = Seq2SeqQueryTransformer(str(trained_path), **EXPANSION)
    out = reader.transform_many([req for req, _ in PAIRS])
    assert out == [text.split(" ||| ") for _, text in PAIRS]
    assert all(q and isinstance(q, str) for queries in out for q in queries)


def test_saved_untrained_student_loads_and_answers(tiny_seq2seq_path, tmp_path):
    Seq2SeqStudent(str(tiny_seq2seq_path)).build().save_artifact(tmp_path)
    reader = Seq2SeqQueryTransformer(str(tmp_path), max_new_tokens=6, **EXPANSION)
    out = reader.transform_many([req for req, _ in PAIRS[:2]])
    assert len(out) == 2 and all(q.strip() for queries in out for q in queries)


def test_parse_and_transform_batch_with_separator_and_hyde(trained_path):
    req = QueryRequest("what is the capital of france", num_queries=3)
    expand = Seq2SeqQueryTransformer(str(trained_path), **EXPANSION)
    assert expand.parse("1. paris ||| france ||| capital", req) == ["paris", "france"]
    assert expand.parse("  ", req) == []
    hyde = Seq2SeqQueryTransformer(str(trained_path), task="hyde", num_beams=1)
    assert hyde.parse('Passage: "paris is the\ncapital."', req) == ["paris is the capital."]
    assert hyde.parse("", req) == []

    requests = [req for req, _ in PAIRS[:2]]
    assert expand.transform_batch(requests) == [["paris", "france"], ["river", "sea water"]]
    # HyDE reads the whole sequence as one passage, separators and all.
    assert hyde.transform_batch(requests) == [["paris ||| france"], ["river ||| sea water"]]


def test_bad_rows_name_the_problem(tiny_seq2seq_path):
    model = Seq2SeqStudent(str(tiny_seq2seq_path)).build()
    with pytest.raises(ValueError, match="at least one"):
        model([])
    with pytest.raises(ValueError, match="row 1 has no source tokens"):
        model([([5, 1], [5, 1]), ([], [5, 1])])
    with pytest.raises(ValueError, match="row 0 has no target tokens"):
        model([([5, 1], [])])
    with pytest.raises(ValueError, match="non-empty text"):
        model.source_ids("  ")


def test_student_describes_itself_and_freezes_embeddings(tiny_seq2seq_path):
    student = Seq2SeqStudent.from_options(
        {"model": str(tiny_seq2seq_path), "max_length": 64, "freeze_embeddings": True}
    )
    assert student.stage == "query_transformer" and student.loader == "hf-seq2seq"
    assert student.describe()["options"]["max_length"] == 64
    assert student.load_options() == {"max_length": 64}
    model = student.build()
    assert model.max_length == 64
    assert not model.model.get_input_embeddings().weight.requires_grad
    assert any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": " "}, "student.model must name a seq2seq model"),
        ({"max_length": 4}, "student.max_length"),
        ({"max_target_length": 1}, "student.max_target_length"),
        ({"dtype": "float8"}, "student.dtype"),
        ({"device": "no-such-device"}, "no-such-device"),
        ({"max_lenght": 64}, "did you mean 'max_length'"),
    ],
)
def test_bad_options_give_clear_errors(tiny_seq2seq_path, options, message):
    with pytest.raises(ConfigError, match=message):
        Seq2SeqStudent.from_options({"model": str(tiny_seq2seq_path), **options}).build()
