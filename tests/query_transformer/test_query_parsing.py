"""Hand-computed cases for the query-transformer stage's pure pieces: reply parsing,
reciprocal-rank fusion, the share-of-lift bootstrap, the conversation helpers, the
prompted transformers' parse/task_of, and the A/B's search texts, fixed arms and scores.
No model is loaded here (transformers build lazily)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragdistill.contracts import Message, QueryRequest
from ragdistill.errors import ConfigError
from ragdistill.evaluation.bootstrap import bootstrap_share
from ragdistill.query_parsing import join_queries, parse_passage, parse_queries, parse_rewrite
from ragdistill.stages.query_transformer.ab import fixed_arms, score, search_texts
from ragdistill.stages.query_transformer.data import (
    QueryExample,
    conversation_candidates,
    follow_up,
    leans_on,
    rule_follow_up,
    shared_reference,
)
from ragdistill.stages.query_transformer.options import ConversationSpec
from ragdistill.stages.query_transformer.retrieval import reciprocal_rank_fusion

# --- parse_queries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "limit", "expected"),
    [
        # the format the students are trained on
        ("vitamin d fractures ||| bone health ||| hip fracture risk", 3,
         ["vitamin d fractures", "bone health", "hip fracture risk"]),
        ("a|||b", 3, ["a", "b"]),
        # "|||" and line breaks mixed in one reply
        ("alpha beta ||| gamma\ndelta epsilon\n\n ||| zeta", 5,
         ["alpha beta", "gamma", "delta epsilon", "zeta"]),
        # a WordPiece tokenizer decodes "|||" as three separate bars
        ("paris france | | | capital city", 3, ["paris france", "capital city"]),
        ("one |  |  | two", 3, ["one", "two"]),
        # numbering of every usual shape
        ("1. first query\n2) second query\n(3) third query\n4: fourth query", 4,
         ["first query", "second query", "third query", "fourth query"]),
        ("1. first query\n2. second query\n3. third query", 2, ["first query", "second query"]),
        # bullets
        ("- foo bar\n* baz qux\n• quux\n+ corge", 4, ["foo bar", "baz qux", "quux", "corge"]),
        # a preamble: a line ending with ":" or opening with "Here are"/"Sure,"/"Okay,"
        ("Here are 3 queries:\n1. a b\n2. c d\n3. e f", 3, ["a b", "c d", "e f"]),
        ("Sure, here are some search queries for you\na b\nc d", 3, ["a b", "c d"]),
        ("Okay, I will write them now\nx y", 3, ["x y"]),
        # labels and quotes, peeled in layers
        ('Query 1: "tesla birthplace"\nSearch query #2: \'tesla early life\'', 2,
         ["tesla birthplace", "tesla early life"]),
        ('1. **Query:** "nikola tesla"', 1, ["nikola tesla"]),
        ("“curly quoted”\n«guillemets»", 2, ["curly quoted", "guillemets"]),
        # thinking is never a query
        ("<think>maybe q1\nhmm, or q2</think>\nreal one\nreal two", 3, ["real one", "real two"]),
        ("<THINK>x</THINK>only this", 3, ["only this"]),
        # duplicates, case- and whitespace-insensitively; the first spelling is kept
        ("Foo Bar\nfoo   bar\nFOO BAR ||| baz", 3, ["Foo Bar", "baz"]),
        # limit
        ("a\nb\nc\nd\ne", 2, ["a", "b"]),
        ("a\nb", 5, ["a", "b"]),
        # nothing usable
        ("", 3, []),
        ("   \n\n ||| \n", 3, []),
        ("Here are the queries:", 3, []),
    ],
)  # fmt: skip
def test_parse_queries(reply: str, limit: int, expected: list[str]) -> None:
    assert parse_queries(reply, limit) == expected


def test_parse_rewrite_takes_the_first_usable_line() -> None:
    assert parse_rewrite("When was Tesla born?") == ["When was Tesla born?"]
    assert parse_rewrite("Here is the rewritten question:\nWhen was Tesla born?\nExtra line") == [
        "When was Tesla born?"
    ]
    assert parse_rewrite('<think>he = Tesla</think>Rewritten query: "Where did Tesla live?"') == [
        "Where did Tesla live?"
    ]
    assert parse_rewrite("Sure, here is the rewrite\n- Where did Tesla live?") == [
        "Where did Tesla live?"
    ]
    # An expansion-shaped reply gives its first query.
    assert parse_rewrite("first one ||| second one") == ["first one"]
    # A quote split across lines loses its lone half.
    assert parse_rewrite('"Where did he go?') == ["Where did he go?"]
    assert parse_rewrite("") == []
    assert parse_rewrite("<think>only thinking</think>") == []
    assert parse_rewrite("Rewritten query:") == []


def test_a_leading_number_is_not_list_numbering() -> None:
    assert parse_rewrite("3.5 mm jack adapter") == ["3.5 mm jack adapter"]
    assert parse_rewrite("10:30 train schedule") == ["10:30 train schedule"]
    assert parse_queries("1. 3.5 mm jack\n2. 2.4 GHz wifi", 2) == ["3.5 mm jack", "2.4 GHz wifi"]


def test_a_query_opening_with_ok_or_sure_is_kept() -> None:
    assert parse_rewrite("OK state income tax rate") == ["OK state income tax rate"]
    assert parse_queries("Sure Start centres funding\nchildren centres", 2) == [
        "Sure Start centres funding",
        "children centres",
    ]


def test_parse_passage() -> None:
    reply = '<think>plan it</think>\nPassage: "Tesla was born in Smiljan.\nHe moved later."'
    assert parse_passage(reply) == "Tesla was born in Smiljan. He moved later."
    assert parse_passage("Hypothetical passage:   A   short\n\ntext.") == "A short text."
    assert parse_passage("Answer: 42 is the answer.") == "42 is the answer."
    # Only the label at the very start goes; thinking anywhere goes.
    assert parse_passage("The passage: no label here") == "The passage: no label here"
    assert parse_passage("a <think>x</think>b") == "a b"
    assert parse_passage("") == ""
    assert parse_passage("<think>only</think>  ") == ""
    assert parse_passage('""') == ""


def test_join_queries_is_the_canonical_form_parse_queries_reads_back() -> None:
    assert join_queries(["a  b", "c|||d", " e\n"]) == "a b ||| c d ||| e"
    assert join_queries(["only"]) == "only"
    assert join_queries([]) == ""
    queries = ["tesla birthplace", "where was nikola tesla born", "smiljan croatia"]
    assert parse_queries(join_queries(queries), 3) == queries


# --- reciprocal-rank fusion -------------------------------------------------------------------


def _rrf_scores(rankings: list[list[str]], k: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            out[doc] = out.get(doc, 0.0) + 1 / (k + rank)
    return out


def test_rrf_by_hand_k60() -> None:
    rankings = [["a", "b", "c"], ["b", "c", "d"]]
    # a: 1/61 = .016393; b: 1/61 + 1/62 = .032522; c: 1/62 + 1/63 = .032002; d: 1/63
    assert reciprocal_rank_fusion(rankings, 60) == ["b", "c", "a", "d"]
    scores = _rrf_scores(rankings, 60)
    assert scores["b"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 62 + 1 / 63)


def test_rrf_the_constant_decides_between_one_top_and_two_middles() -> None:
    rankings = [["a", "b", "c", "d"], ["e", "f", "g", "d"]]
    # k = 60: d = 2/64 = .03125 beats a = e = 1/61 = .01639, then b = f = 1/62, c = g = 1/63.
    assert reciprocal_rank_fusion(rankings, 60) == ["d", "a", "e", "b", "f", "c", "g"]
    # k = 1: a = e = 1/2 beat d = 1/5 + 1/5 = .4, which beats b = f = 1/3, c = g = 1/4.
    assert reciprocal_rank_fusion(rankings, 1) == ["a", "e", "d", "b", "f", "c", "g"]


def test_rrf_three_rankings() -> None:
    rankings = [["x", "y"], ["y", "z"], ["z", "x", "y"]]
    # k = 1: x = 1/2 + 1/3 = .833; y = 1/3 + 1/2 + 1/4 = 1.083; z = 1/3 + 1/2 = .833 (tie:
    # x was seen first)
    assert reciprocal_rank_fusion(rankings, 1) == ["y", "x", "z"]
    # k = 60: y = 1/62 + 1/61 + 1/63; x = 1/61 + 1/62; z = 1/62 + 1/61 -> x, z tie again
    assert reciprocal_rank_fusion(rankings, 60) == ["y", "x", "z"]


def test_rrf_ties_keep_first_seen_order() -> None:
    assert reciprocal_rank_fusion([["x", "y"], ["y", "x"]], 60) == ["x", "y"]
    assert reciprocal_rank_fusion([["p"], ["q"], ["r"]], 60) == ["p", "q", "r"]


def test_rrf_one_ranking_returns_itself() -> None:
    ranking = ["d3", "d1", "d7", "d2"]
    assert reciprocal_rank_fusion([ranking], 60) == ranking
    assert reciprocal_rank_fusion([ranking], 0) == ranking
    assert reciprocal_rank_fusion([], 60) == []


def test_rrf_negative_k_is_refused() -> None:
    with pytest.raises(ValueError, match="k must be >= 0"):
        reciprocal_rank_fusion([["a"]], -1)


# --- share of the teacher's lift ------------------------------------------------------------


def test_bootstrap_share_observed_by_hand() -> None:
    # 20 queries: the reference lifts 15 of them by 1 (lift .75), the arm 10 (lift .5):
    # share .5 / .75 = 2/3.
    base = [0.0] * 20
    reference = [1.0] * 15 + [0.0] * 5
    arm = [1.0] * 10 + [0.0] * 10
    ci = bootstrap_share(base, reference, arm, n_resamples=500, seed=0)
    assert ci.mean == pytest.approx(2 / 3)
    assert ci.low <= ci.mean <= ci.high
    assert ci.n == 20 and ci.n_resamples == 500 and ci.confidence == 0.95
    # The arm that is the reference keeps all of it, in every resample.
    same = bootstrap_share(base, reference, reference, n_resamples=200)
    assert same.mean == same.low == same.high == 1.0


def test_bootstrap_share_with_a_nonzero_base() -> None:
    base = [0.5, 0.2, 0.1, 0.0]
    reference = [0.9, 0.6, 0.5, 0.4]  # +0.4 each
    arm = [0.6, 0.3, 0.2, 0.1]  # +0.1 each
    ci = bootstrap_share(base, reference, arm, n_resamples=300)
    assert ci.mean == pytest.approx(0.25)
    assert ci.low == pytest.approx(0.25) and ci.high == pytest.approx(0.25)


def test_bootstrap_share_is_nan_without_a_reference_lift() -> None:
    base = [0.2, 0.4, 0.6]
    assert math.isnan(bootstrap_share(base, base, [1.0, 1.0, 1.0]).mean)
    # lifts that cancel out (+.5 and -.5): no lift on average either
    ci = bootstrap_share([0.0, 1.0], [0.5, 0.5], [1.0, 1.0])
    assert math.isnan(ci.mean) and math.isnan(ci.low) and math.isnan(ci.high)
    empty = bootstrap_share([], [], [])
    assert math.isnan(empty.mean) and empty.n == 0


def test_bootstrap_share_is_nan_when_the_lift_is_zero_up_to_rounding() -> None:
    # The reference's per-query scores are the base's, permuted: the same mean, no lift.
    base = [2 / 3, 0.1, 1.0, 1 / math.log2(5)]
    reference = [0.1, 1.0, 1 / math.log2(5), 2 / 3]
    assert math.isnan(bootstrap_share(base, reference, [1.0] * 4, n_resamples=100).mean)


def test_bootstrap_share_refuses_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="three equal-length"):
        bootstrap_share([0.0, 1.0], [1.0], [1.0, 1.0])


# --- conversation helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        ("When did Nikola Tesla move to the United States?", "Where was Nikola Tesla born? Smiljan",
         "Nikola Tesla"),
        # a lower-case phrase counts from two words, never starting or ending with a stop word
        ("When was the eiffel tower built?", "How tall is the eiffel tower?", "eiffel tower"),
        # one lower-case word is no name
        ("what river think group?", "what river self appear? oh", None),
        ("what River think group?", "what River self appear? oh", "River"),
        # the longest shared phrase wins
        ("Who built the Golden Gate Bridge?", "Where is the Golden Gate Bridge? San Francisco",
         "Golden Gate Bridge"),
        # digits count like capitals
        ("What happened in 1889?", "Which tower opened in 1889?", "1889"),
        ("What is the capital?", "Tell me about France.", None),
    ],
)  # fmt: skip
def test_shared_reference(question: str, history: str, expected: str | None) -> None:
    assert shared_reference(question, history) == expected


@pytest.mark.parametrize(
    ("question", "reference", "expected"),
    [
        # after what/which before a lower-case word: left out
        ("What ABC comedy aired first?", "ABC", "What comedy aired first?"),
        # "the X <word>" -> "this <word>"
        ("When did the DFDS ferry sink?", "DFDS", "When did this ferry sink?"),
        ("When was the Eiffel Tower built?", "Eiffel Tower", "When was this built?"),
        # a name of several capitalised words -> they
        ("When did Nikola Tesla die?", "Nikola Tesla", "When did they die?"),
        # otherwise it, keeping trailing punctuation, capitalised at the start
        ("Where is Paris?", "Paris", "Where is it?"),
        ("Paris is where?", "Paris", "It is where?"),
        # possessive -> its
        ("Who founded Tesla's lab?", "Tesla's", "Who founded its lab?"),
        # nothing to replace: unchanged
        ("Where is Rome?", "Paris", "Where is Rome?"),
    ],
)
def test_rule_follow_up(question: str, reference: str, expected: str) -> None:
    assert rule_follow_up(question, reference) == expected


def test_leans_on() -> None:
    history = "Where was Nikola Tesla born? Smiljan"
    original = "When did Nikola Tesla move?"
    assert leans_on("When did he move?", original, history)
    assert not leans_on(original, original, history)
    assert leans_on("When did Tesla go?", original, history)  # "Nikola" is in the history
    # Dropping a word the history does not say (or a stop word) does not count.
    assert not leans_on("When did Nikola Tesla go?", original, history)
    assert not leans_on("Nikola Tesla move?", original, history)
    assert not leans_on("When did he move?", original, "")


HISTORY = "Where was Nikola Tesla born? Smiljan"
ORIGINAL = "When did Nikola Tesla move to the United States?"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("When did he move to the United States?", ("When did he move to the United States?", "ok")),
        # parsed like any rewrite: labels, quotes, preambles, thinking go
        ('<think>he</think>\nHere is the follow-up:\n"When did he move to the United States?"',
         ("When did he move to the United States?", "ok")),
        ("", (None, "empty")),
        ("Here is the follow-up:", (None, "empty")),
        ("He moved to the United States.", (None, "not_a_question")),
        ("Why?", (None, "not_a_question")),
        # the same words, whatever the case and punctuation
        ("when did Nikola Tesla move to the United States ?", (None, "unchanged")),
        # reworded, but it still names everything: needs no conversation
        ("When did Nikola Tesla relocate to the United States?", (None, "stands_alone")),
        # longer than 2 x 49 + 20 = 118 characters (this one: 121)
        ("When did he move to the United States, and what else happened to him during all "
         "the long, long years that followed there?", (None, "too_long")),
    ],
)  # fmt: skip
def test_follow_up_verdicts(reply: str, expected: tuple[str | None, str]) -> None:
    assert follow_up(reply, ORIGINAL, HISTORY) == expected


def test_a_follow_up_label_is_not_part_of_the_follow_up() -> None:
    reply = "Follow-up: When did he move to the United States?"
    assert follow_up(reply, ORIGINAL, HISTORY) == ("When did he move to the United States?", "ok")


@pytest.fixture
def squad_dataset(tmp_path: Path):
    from ragdistill.config import build
    from ragdistill.registry import default_registry
    from tests.generator.tiny_squad import write_tiny_squad

    path = write_tiny_squad(tmp_path / "squad.json", articles=2, paragraphs=2, questions=3)
    cls = default_registry().dataset("squad")
    return build(cls, {"path": str(path), "eval_articles": 1}, "data").load()


def test_conversation_candidates_take_earlier_questions_of_the_paragraph(squad_dataset) -> None:
    ds = squad_dataset
    q = ds.queries
    spec = ConversationSpec()  # turns = 2, answers = True
    out = {e.id: e for e in conversation_candidates(ds, list(q), spec)}
    # The first question of each paragraph has no history: 2 articles x 2 paragraphs x 2.
    assert sorted(out) == sorted(f"q{a}-{p}-{i}" for a in (0, 1) for p in (0, 1) for i in (1, 2))
    ex = out["q0-1-2"]
    answer = {qid: ds.answers[qid][0] for qid in ("q0-1-0", "q0-1-1")}
    assert ex.history == (
        Message("user", q["q0-1-0"]), Message("assistant", answer["q0-1-0"]),
        Message("user", q["q0-1-1"]), Message("assistant", answer["q0-1-1"]),
    )  # fmt: skip
    doc = ds.source_documents("q0-1-2")[0]
    assert ex.targets == {doc: 1} and ex.group == ds.corpus[doc].title
    # The teacher has not written the follow-up yet: query, gold and original are the question.
    assert ex.query == ex.gold == ex.original == q["q0-1-2"]
    assert out["q1-0-1"].history == (
        Message("user", q["q1-0-0"]), Message("assistant", ds.answers["q1-0-0"][0]))  # fmt: skip


def test_conversation_candidates_options_and_order(squad_dataset) -> None:
    ds = squad_dataset
    q = ds.queries
    bare = conversation_candidates(ds, ["q0-0-2"], ConversationSpec(answers=False))
    assert bare[0].history == (Message("user", q["q0-0-0"]), Message("user", q["q0-0-1"]))
    last = conversation_candidates(ds, ["q0-0-2"], ConversationSpec(turns=1, answers=False))
    assert last[0].history == (Message("user", q["q0-0-1"]),)
    # Only the ids asked for, in the order asked; a first question has no conversation.
    picked = conversation_candidates(ds, ["q1-1-2", "q0-0-0", "q0-0-1"], ConversationSpec())
    assert [e.id for e in picked] == ["q1-1-2", "q0-0-1"]


def test_conversation_candidates_refuse_a_dataset_without_sources() -> None:
    from ragdistill.datasets import Document, RetrievalDataset

    ds = RetrievalDataset(
        "beirish", {"d1": Document("d1", "", "text")}, {"q1": "a question"}, {"q1": {"d1": 1}}
    )
    with pytest.raises(ConfigError, match=r"'beirish'.*which passage.*expand.*hyde"):
        conversation_candidates(ds, ["q1"], ConversationSpec())


# --- the prompted transformers' parse and task_of, without loading a model --------------------


def test_llm_query_transformer_task_of_and_parse() -> None:
    from ragdistill.hf.query_transformers import LLMQueryTransformer

    one, three = QueryRequest("q"), QueryRequest("q", num_queries=3)
    auto = LLMQueryTransformer("not-loaded-model")
    assert auto.task_of(one) == "rewrite" and auto.task_of(three) == "expand"
    reply = "1. first\n2. second\n3. third\n4. fourth"
    assert auto.parse(reply, one) == ["first"]
    # auto expansion: as many as the request asks for
    assert auto.parse(reply, QueryRequest("q", num_queries=2)) == ["first", "second"]

    expand = LLMQueryTransformer("not-loaded-model", task="expand", num_queries=3)
    assert expand.task_of(one) == "expand"
    # a fixed expansion writes the number it was trained on, whatever the request says
    assert expand.parse(reply, one) == ["first", "second", "third"]
    assert expand.parse("a ||| b ||| a", three) == ["a", "b"]

    rewrite = LLMQueryTransformer("not-loaded-model", task="rewrite")
    assert rewrite.task_of(three) == "rewrite"
    assert rewrite.parse('Rewritten query: "where is it"\nnoise', three) == ["where is it"]
    assert rewrite.parse("", one) == []

    hyde = LLMQueryTransformer("not-loaded-model", task="hyde")
    assert hyde.task_of(three) == "hyde"
    assert hyde.parse("Passage: It is\nin Paris.", one) == ["It is in Paris."]
    assert hyde.parse("<think>x</think>", one) == []
    with pytest.raises(ConfigError, match="task must be one of"):
        LLMQueryTransformer("not-loaded-model", task="summarise")  # type: ignore[arg-type]


def test_llm_query_transformer_prompts_take_the_task() -> None:
    from ragdistill.hf.query_transformers import EXPAND_PROMPT, render

    text = render({"expand": EXPAND_PROMPT}, "expand", "where is it", "user: hi", 4)
    assert "Write 4 different search queries" in text
    assert text.endswith("Conversation:\nuser: hi\n\nQuestion: where is it\nQueries:")
    with pytest.raises(ConfigError, match="must contain"):
        from ragdistill.hf.query_transformers import LLMQueryTransformer

        LLMQueryTransformer("not-loaded-model", hyde_prompt="no placeholder")


def test_seq2seq_query_transformer_parse() -> None:
    from ragdistill.hf.query_transformers import Seq2SeqQueryTransformer

    req = QueryRequest("where is it", (Message("user", "tell me about Paris"),), num_queries=2)
    sep = Seq2SeqQueryTransformer("not-loaded", task="expand", expansion="separator",
                                  num_queries=3)  # fmt: skip
    assert sep.parse("a | | | b ||| c ||| d", req) == ["a", "b", "c"]
    assert sep.source(req) == "tell me about Paris ||| where is it"
    rewrite = Seq2SeqQueryTransformer("not-loaded", task="rewrite", expansion="separator",
                                      prefix="rewrite: ")  # fmt: skip
    assert rewrite.parse("  where is Paris  ", req) == ["where is Paris"]
    assert rewrite.source(req) == "rewrite: tell me about Paris ||| where is it"
    hyde = Seq2SeqQueryTransformer("not-loaded", task="hyde")
    assert hyde.parse("Passage: Paris is\nin France.", req) == ["Paris is in France."]


# --- the A/B's pieces -----------------------------------------------------------------------

TESLA = QueryExample(
    "q1", "When did he move?", {"d1": 1},
    (Message("user", "Where was Tesla born?"), Message("assistant", "Smiljan"),
     Message("user", "What did he invent?"), Message("assistant", "AC motors")),
    gold="When did Tesla move?",
)  # fmt: skip
PLAIN = QueryExample("q2", "vitamin d fractures", {"d2": 2, "d3": 1})


def test_search_texts() -> None:
    outs = ["vitamin d bones", "vitamin d fractures", "fracture risk"]
    # an expansion fused with the user's own query first, that query not twice
    assert search_texts(PLAIN, outs, fuse_original=True, expand=True) == [
        "vitamin d fractures", "vitamin d bones", "fracture risk"]  # fmt: skip
    assert search_texts(PLAIN, outs, fuse_original=False, expand=True) == outs
    # a rewrite or a passage is searched alone
    assert search_texts(TESLA, ["When did Tesla move?"], fuse_original=True, expand=False) == [
        "When did Tesla move?"]  # fmt: skip


def test_fixed_arms() -> None:
    arms = fixed_arms([TESLA])
    assert arms == {
        "raw": [["When did he move?"]],
        # user turns only, oldest first, then the query
        "history": [["Where was Tesla born? What did he invent? When did he move?"]],
        "gold": [["When did Tesla move?"]],
    }
    # plain queries: no history, no gold
    assert fixed_arms([PLAIN]) == {"raw": [["vitamin d fractures"]]}
    # gold only when every example has one; history when any has one
    mixed = fixed_arms([TESLA, PLAIN])
    assert set(mixed) == {"raw", "history"}
    assert mixed["history"][1] == ["vitamin d fractures"]


def test_score_by_hand() -> None:
    rankings = [
        [f"x{i}" for i in range(10)] + ["d1"],  # the target 11th: outside the top 10
        ["d3", "x", "d2"],  # grade 1 first, grade 2 third
    ]
    out = score([TESLA, PLAIN], rankings)
    assert out["recall@10"] == [0.0, 1.0]
    assert out["recall@100"] == [1.0, 1.0]
    assert out["ndcg@10"][0] == 0.0
    # dcg = 1/log2(2) + 2/log2(4) = 2; ideal = 2/log2(2) + 1/log2(3)
    assert out["ndcg@10"][1] == pytest.approx(2 / (2 + 1 / math.log2(3)))
    single = score([TESLA], [["x", "d1"]])
    assert single["ndcg@10"] == [pytest.approx(1 / math.log2(3))]
