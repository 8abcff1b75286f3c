"""Fixtures shared by the integration distributions' tests.

The "reference" components below are small but genuine implementations of the four
stage contracts (a hashing embedder, a word-overlap reranker, a rule-based rewriter,
an echo generator): deterministic and instant, so every adapter can be run through
its contract suite without a model. The ``tiny_*`` fixtures add real HF models built
from configs (random weights, no hub).
"""

from __future__ import annotations

import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from ragdistill.contracts import (
    Component,
    Embedder,
    FloatArray,
    Generation,
    GenerationRequest,
    Generator,
    InputType,
    Pair,
    QueryRequest,
    QueryTransformer,
    Reranker,
)
from ragdistill.hookspecs import hookimpl
from ragdistill.runtime import RuntimeBackend

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

_STOP = {"a", "an", "the", "is", "of", "what", "which", "who", "how", "to", "in", "and", "?"}


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class HashingEmbedder(Embedder):
    """Bag of hashed words, L2-normalised; a bias slot keeps every vector non-zero."""

    def __init__(self, dimension: int = 64, query_prefix: str = "") -> None:
        self.dim = dimension
        self.query_prefix = query_prefix

    def embed_batch(self, texts: list[str], *, input_type: InputType = "document") -> FloatArray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            if input_type == "query":
                text = self.query_prefix + text
            out[row, 0] = 0.1
            for word in words(text):
                out[row, 1 + zlib.crc32(word.encode()) % (self.dim - 1)] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class WordOverlapReranker(Reranker):
    """Shared content words, damped by document length."""

    def score_pairs(self, pairs: list[Pair]) -> FloatArray:
        scores = []
        for query, doc in pairs:
            q, d = set(words(query)) - _STOP, words(doc)
            scores.append(len(q & set(d)) / np.sqrt(len(d) + 1.0))
        return np.asarray(scores, dtype=np.float32)


class RuleQueryTransformer(QueryTransformer):
    """Rewrites pronouns from the last user turn; expands by keyword subsets."""

    def transform_batch(self, requests: list[QueryRequest]) -> list[list[str]]:
        return [self._one(req) for req in requests]

    def _one(self, req: QueryRequest) -> list[str]:
        query = req.query
        users = [m.content for m in req.history if m.role == "user"]
        if users and set(words(query)) & {"it", "its", "they", "their", "there"}:
            topic = " ".join(w for w in words(users[-1]) if w not in _STOP and len(w) > 3)
            query = f"{query} ({topic})"
        keys = [w for w in words(query) if w not in _STOP]
        variants = [
            query,
            " ".join(keys),
            " ".join(reversed(keys)),
            *(f"{k} {query}" for k in keys),
        ]
        return variants[: req.num_queries]


class EchoGenerator(Generator):
    """Answers "echo:" plus the last user turn, word by word, honouring limits and stops."""

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [self._one(req) for req in requests]

    def _pieces(self, req: GenerationRequest) -> list[str]:
        last = next((m.content for m in reversed(req.messages) if m.role == "user"), "")
        tokens = ["echo:", *last.split()][: req.max_new_tokens]
        text = " ".join(tokens)
        for stop in req.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        return re.findall(r"\S+\s*", text) or [text]

    def _one(self, req: GenerationRequest) -> Generation:
        pieces = self._pieces(req)
        prompt_tokens = sum(len(m.content.split()) for m in req.messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces)}
        return Generation("".join(pieces), "stop", usage)

    def stream(self, req: GenerationRequest) -> Iterator[str]:
        yield from self._pieces(req)


@pytest.fixture(scope="session", autouse=True)
def _teacher_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Teacher outputs of these tests go to a folder of the session, never to the user's
    own teacher cache (as in the core suite's conftest)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAGDISTILL_TEACHER_CACHE", str(tmp_path_factory.mktemp("teacher-cache")))
        yield


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def asymmetric_embedder() -> HashingEmbedder:
    """Prefixes queries, so a query and the same text as a document embed differently."""
    return HashingEmbedder(query_prefix="query: ")


@pytest.fixture
def overlap_reranker() -> WordOverlapReranker:
    return WordOverlapReranker()


@pytest.fixture
def rule_query_transformer() -> RuleQueryTransformer:
    return RuleQueryTransformer()


@pytest.fixture
def echo_generator() -> EchoGenerator:
    return EchoGenerator()


Calls = list[tuple[tuple[Any, ...], dict[str, Any]]]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Callable[[object, str], Calls]:
    """``calls = spy(obj, "method")``: each call of ``obj.method`` still runs the real
    method and is recorded in ``calls`` as ``(args, kwargs)``; undone after the test."""

    def install(obj: object, name: str) -> Calls:
        calls: Calls = []
        real = getattr(obj, name)

        def recording(*args: Any, **kwargs: Any) -> Any:
            calls.append((args, kwargs))
            return real(*args, **kwargs)

        monkeypatch.setattr(obj, name, recording)
        return calls

    return install


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


def _tiny(builder: str, root: Path, name: str) -> Path:
    tiny = pytest.importorskip("ragdistill.testing.tiny")
    return getattr(tiny, builder)(root / name)


@pytest.fixture(scope="session")
def tiny_st_path(tiny_dir: Path) -> Path:
    return _tiny("tiny_sentence_transformer", tiny_dir, "st")


@pytest.fixture(scope="session")
def tiny_ce_path(tiny_dir: Path) -> Path:
    return _tiny("tiny_cross_encoder", tiny_dir, "ce")


@pytest.fixture(scope="session")
def tiny_lm_path(tiny_dir: Path) -> Path:
    return _tiny("tiny_causal_lm", tiny_dir, "lm")


@pytest.fixture(scope="session")
def tiny_t5_path(tiny_dir: Path) -> Path:
    return _tiny("tiny_seq2seq", tiny_dir, "t5")


# Loaded once per session: the adapters only wrap a component, so tests share them.
# Greedy, short decoding keeps generation-heavy contract tests fast on CPU.
QUERY_OPTIONS = {"num_beams": 1, "max_new_tokens": 6}
GENERATOR_OPTIONS = {"max_new_tokens": 8}


def _load(path: Path, stage: str, **options: object) -> object:
    from ragdistill.loading import load_component

    return load_component(path, stage=stage, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_embedder(tiny_st_path: Path) -> object:
    return _load(tiny_st_path, "embedder")


@pytest.fixture(scope="session")
def tiny_reranker(tiny_ce_path: Path) -> object:
    return _load(tiny_ce_path, "reranker")


@pytest.fixture(scope="session")
def tiny_query_transformer(tiny_t5_path: Path) -> object:
    return _load(tiny_t5_path, "query_transformer", **QUERY_OPTIONS)


@pytest.fixture(scope="session")
def tiny_generator(tiny_lm_path: Path) -> object:
    return _load(tiny_lm_path, "generator", **GENERATOR_OPTIONS)


MANIFEST_FIELDS = {
    "teacher": {"name": "tiny-teacher", "params": 1000},
    "student": {"name": "tiny-student", "params": 100},
    "metrics": {"ndcg@10": 0.5, "teacher_ndcg@10": 0.6},
}


@pytest.fixture(scope="session")
def tiny_artifacts(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_st_path: Path,
    tiny_ce_path: Path,
    tiny_t5_path: Path,
    tiny_lm_path: Path,
) -> dict[str, Path]:
    """Each tiny model copied into an artifact directory with a manifest, by stage."""
    import shutil

    from ragdistill.artifacts import write_manifest

    root = tmp_path_factory.mktemp("artifacts")
    sources = {
        "embedder": (tiny_st_path, "sentence-transformers", {}),
        "reranker": (tiny_ce_path, "cross-encoder", {}),
        "query_transformer": (tiny_t5_path, "hf-seq2seq", QUERY_OPTIONS),
        "generator": (tiny_lm_path, "hf-causal-lm", GENERATOR_OPTIONS),
    }
    out = {}
    for stage, (path, loader, options) in sources.items():
        target = root / stage
        shutil.copytree(path, target, ignore=shutil.ignore_patterns(".ragdistill-tiny*"))
        write_manifest(target, stage=stage, loader=loader, load_options=options, **MANIFEST_FIELDS)  # type: ignore[arg-type]
        out[stage] = target
    return out


# Distilled query-transformer students fix their task in the manifest's load options.
QUERY_ARTIFACTS: dict[str, tuple[str, str, dict[str, object]]] = {
    "rewrite": ("lm", "hf-llm", {"task": "rewrite", "max_new_tokens": 8}),
    "expand": ("lm", "hf-llm", {"task": "expand", "num_queries": 3, "max_new_tokens": 8}),
    "hyde": ("lm", "hf-llm", {"task": "hyde", "max_new_tokens": 8}),
    "seq2seq-expand": (
        "t5",
        "hf-seq2seq",
        {
            "task": "expand",
            "expansion": "separator",
            "num_queries": 3,
            "num_beams": 1,
            "max_new_tokens": 8,
        },
    ),
}


@pytest.fixture(scope="session")
def tiny_query_artifacts(
    tmp_path_factory: pytest.TempPathFactory, tiny_lm_path: Path, tiny_t5_path: Path
) -> dict[str, Path]:
    """Query-transformer artifacts by task (``rewrite``, ``expand``, ``hyde``: the tiny
    causal LM, loader ``hf-llm``; ``seq2seq-expand``: the tiny T5, loader ``hf-seq2seq``)."""
    import shutil

    from ragdistill.artifacts import write_manifest

    root = tmp_path_factory.mktemp("query-artifacts")
    models = {"lm": tiny_lm_path, "t5": tiny_t5_path}
    out = {}
    for name, (model, loader, options) in QUERY_ARTIFACTS.items():
        target = root / name
        shutil.copytree(models[model], target, ignore=shutil.ignore_patterns(".ragdistill-tiny*"))
        write_manifest(
            target,
            stage="query_transformer",
            loader=loader,
            load_options=options,
            **MANIFEST_FIELDS,  # type: ignore[arg-type]
        )
        out[name] = target
    return out


@pytest.fixture(scope="session")
def tiny_stacks(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_st_path: Path,
    tiny_ce_path: Path,
    tiny_lm_path: Path,
    tiny_artifacts: dict[str, Path],
) -> dict[str, Path]:
    """Folders with one model per stage, as the example apps take: plain models as the
    "teacher", artifacts with manifests as the "student"."""
    import shutil

    teacher = tmp_path_factory.mktemp("teacher-stack")
    for stage, path in {
        "embedder": tiny_st_path,
        "reranker": tiny_ce_path,
        "generator": tiny_lm_path,
    }.items():
        shutil.copytree(path, teacher / stage, ignore=shutil.ignore_patterns(".ragdistill-tiny*"))
    student = tmp_path_factory.mktemp("student-stack")
    for stage in ("embedder", "reranker", "generator"):
        shutil.copytree(tiny_artifacts[stage], student / stage)
    return {"teacher": teacher, "student": student}


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "examples"


def load_example(path: Path) -> object:
    """Import an example script as a module (examples are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example() -> object:
    return load_example


# -- a runtime registered as a real plugin ---------------------------------------------------


class RecordingRuntime(RuntimeBackend):
    """Loads with the artifact's own loader on the CPU; records each call in ``calls``."""

    calls: ClassVar[list[tuple[Path, str | None, str, dict[str, Any]]]] = []

    def __init__(self, tag: str = "default") -> None:
        self.tag = tag

    def load(self, path: Path, stage: str | None = None, **options: Any) -> Component:
        from ragdistill.loading import build_component, locate

        self.calls.append((Path(path), stage, self.tag, dict(options)))
        return build_component(locate(path, stage), device="cpu", **options)


@hookimpl
def register_runtimes(register: Any) -> None:
    register("recording", RecordingRuntime)


@pytest.fixture
def recording_runtime() -> Iterator[type[RecordingRuntime]]:
    """The ``recording`` runtime, registered for one test on the process-wide plugin
    manager the way an installed plugin is (this module is the plugin), then removed."""
    from ragdistill import plugins, registry

    RecordingRuntime.calls.clear()
    pm = plugins.default_plugin_manager()
    plugin = sys.modules[__name__]
    pm.register(plugin, name="test-recording-runtime")
    registry.reset()
    try:
        yield RecordingRuntime
    finally:
        pm.unregister(plugin)
        registry.reset()


# -- a pipeline spec of tiny models, for the pipeline engines and the router ----------------

PIPELINE_FACTS = [
    ("France", "Paris is the capital of France and its largest city.", "What is the capital of France?", "Paris"),
    ("Rhine", "The Rhine flows from the Swiss Alps to the North Sea.", "Where does the Rhine flow to?", "the North Sea"),
    ("Distillation", "Knowledge distillation trains a small student to imitate a teacher.", "What does distillation train?", "a small student"),
    ("Chroma", "Chroma is an open-source vector database for embeddings.", "What is Chroma?", "a vector database"),
    ("Quantization", "Quantization stores weights in fewer bits to save memory.", "What does quantization save?", "memory"),
    ("Everest", "Mount Everest is the highest mountain above sea level.", "Which mountain is the highest?", "Mount Everest"),
]  # fmt: skip


@pytest.fixture(scope="session")
def pipeline_dataset() -> Any:
    """A six-document question-answering set (titled documents, one gold answer each)."""
    from ragdistill.datasets import Document, RetrievalDataset

    facts = PIPELINE_FACTS
    return RetrievalDataset(
        name="tiny-qa",
        corpus={f"d{i}": Document(f"d{i}", t, text) for i, (t, text, _, _) in enumerate(facts)},
        queries={f"q{i}": q for i, (_, _, q, _) in enumerate(facts)},
        qrels={f"q{i}": {f"d{i}": 1} for i in range(len(facts))},
        chunk_size=None,
        answers={f"q{i}": [a] for i, (_, _, _, a) in enumerate(facts)},
    )


@pytest.fixture(scope="session")
def pipeline_spec(
    tiny_st_path: Path, tiny_ce_path: Path, tiny_t5_path: Path, tiny_lm_path: Path
) -> dict[str, Any]:
    """A two-arm spec: a "teacher" of every stage (T5 rewriter, embedder, cross-encoder,
    causal LM) and a "student" with neither a query transformer nor a reranker (and its
    own generator instance). Greedy decoding throughout: equal inputs, equal answers."""
    return {
        "name": "tiny",
        "k": 4,
        "contexts": 2,
        "max_new_tokens": 6,
        "control": "teacher",
        "treatment": "student",
        "arms": {
            "teacher": {
                "query_transformer": {"artifact": str(tiny_t5_path), **QUERY_OPTIONS},
                "embedder": {"artifact": str(tiny_st_path)},
                "reranker": {"artifact": str(tiny_ce_path)},
                "generator": {"artifact": str(tiny_lm_path)},
            },
            "student": {
                "embedder": {"artifact": str(tiny_st_path)},
                "generator": {"artifact": str(tiny_lm_path), "batch_size": 2},
            },
        },
    }


# -- added for the LangChain adapters (issue 20): a JSON-answering generator, full stacks ---


class JsonGenerator(EchoGenerator):
    """Answers a request whose system message carries a JSON schema ("...JSON schema:\\n{...}")
    with a fenced JSON object that fits it (every property: strings "cat", numbers 1),
    after ``bad`` replies that do not fit (prose, then JSON without the required keys);
    echoes any other request. ``schema_requests`` counts the requests that carried one."""

    def __init__(self, bad: int = 0) -> None:
        self.bad = bad
        self.schema_requests = 0

    def _one(self, req: GenerationRequest) -> Generation:
        import json

        system = next((m.content for m in req.messages if m.role == "system"), "")
        if "JSON schema:\n" not in system:
            return super()._one(req)
        self.schema_requests += 1
        schema = json.loads(system.split("JSON schema:\n", 1)[1])
        if self.schema_requests <= self.bad:
            text = "Sure! Here is one about cats." if self.schema_requests % 2 else "{}"
        else:
            text = f"Here you are:\n```json\n{json.dumps(_fill(schema, schema))}\n```"
        return Generation(text, "stop", {"prompt_tokens": 1, "completion_tokens": 1})


def _fill(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value that fits ``schema`` (``$ref``/``anyOf`` resolved against ``root``)."""
    if "$ref" in schema:
        return _fill(root.get("$defs", {})[schema["$ref"].rsplit("/", 1)[1]], root)
    if "anyOf" in schema:
        return _fill(next(s for s in schema["anyOf"] if s.get("type") != "null"), root)
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _fill(prop, root) for k, prop in props.items()}
    return {"string": "cat", "integer": 1, "number": 1.0, "boolean": True, "array": []}.get(kind)


@pytest.fixture
def json_generator() -> JsonGenerator:
    return JsonGenerator()


@pytest.fixture(scope="session")
def tiny_full_stacks(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_stacks: dict[str, Path],
    tiny_t5_path: Path,
    tiny_query_artifacts: dict[str, Path],
) -> dict[str, Path]:
    """``tiny_stacks`` with all four stages: a ``query_transformer/`` is added to each, the
    tiny T5 as a plain folder to the teacher, the rewrite artifact (tiny causal LM, loader
    ``hf-llm``) to the student."""
    import shutil

    out = {}
    query = {"teacher": tiny_t5_path, "student": tiny_query_artifacts["rewrite"]}
    for which, source in query.items():
        target = tmp_path_factory.mktemp(f"{which}-full-stack")
        shutil.copytree(tiny_stacks[which], target, dirs_exist_ok=True)
        shutil.copytree(source, target / "query_transformer", ignore=shutil.ignore_patterns(".ragdistill-tiny*"))  # fmt: skip
        out[which] = target
    return out
