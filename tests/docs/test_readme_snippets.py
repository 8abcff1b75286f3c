"""Every Python block of every README and doc runs, as a reader would paste it.

Each Markdown file's blocks run in order in a fresh interpreter (see ``snippets.py``): a
variable carries over to the next block, an import does not, so every block imports what
it uses. They run in a folder where the ``runs/...`` artifacts they name exist (tiny
models with manifests, ``conftest.py``) and packaged model names stand for tiny models, after
the file's :data:`GIVEN` code (what its prose assumes: ``documents``, ``chat``...).

* ``<!-- doc-test: skip (why) -->`` on the line above a fence skips that block; every
  skip is listed in :data:`SKIPPED`, so adding one is a visible change here.
* ``<!-- doc-test: may raise Name -->`` lets a block end with that exception, for a block
  whose output depends on the model (structured output from a random tiny model).
* :data:`COVERED_ELSEWHERE` names files whose blocks another test runs.
* :data:`PENDING` holds failures known and being fixed in files this test does not edit:
  each entry must still fail as written (else remove it), and the file's test xfails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.snippets import Block, job_for, python_blocks

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("snippets.py")
DOCS = sorted(
    [ROOT / "README.md", *ROOT.glob("integrations/*/README.md"), *ROOT.glob("plugins/*/README.md"),
     *ROOT.glob("docs/*.md"), *ROOT.glob("examples/*.md")]
)  # fmt: skip

#: Files whose Python blocks another test runs.
COVERED_ELSEWHERE = {
    # Its blocks are the files of tests/plugin_example (the test checks each block is in the
    # package), which that test installs and runs: its distillation, commands and own tests.
    "docs/plugins.md": "tests/core/test_plugin_example.py",
}
#: Blocks marked ``<!-- doc-test: skip (...) -->``: (file, block number) -> why.
SKIPPED: dict[tuple[str, int], str] = {
    ("plugins/ragdistill-openai/README.md", 1): "needs an OpenAI API key and the network",
}

_CORPUS = [
    "Paris is the capital of France and its largest city.",
    "The Rhine flows from the Swiss Alps to the North Sea.",
    "Knowledge distillation trains a small student to imitate a teacher.",
    "Chroma is an open-source vector database for embeddings.",
    "Quantization stores weights in fewer bits to save memory.",
]
#: What a file's prose assumes its reader has, run before its first block.
GIVEN = {
    "integrations/llama-index-ragdistill/README.md": f"""
from llama_index.core import Document
from llama_index.core.llms import ChatMessage

documents = [Document(text=text) for text in {_CORPUS!r}]
chat = [ChatMessage(role="user", content="What is distillation?"),
        ChatMessage(role="assistant", content="Training a small model to imitate a big one.")]
user_id = "user-42"
""",
    "integrations/langchain-ragdistill/README.md": f"""
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage

texts = {_CORPUS!r}
documents = [Document(page_content=text) for text in texts]
chat = [HumanMessage("What is distillation?"),
        AIMessage("Training a small model to imitate a big one.")]
user_id = "user-42"
""",
    "docs/pipeline-ab.md": f"""
documents = {_CORPUS!r}
user_id = "user-42"
""",
}
#: Known failures in files other people are editing: file -> [(error text, the fix)].
PENDING: dict[str, list[tuple[str, str]]] = {
}  # fmt: skip
#: Blocks to skip until their file carries the marker (it is someone else's to edit):
#: (file, a line of the block) -> the reason the marker should give.
SKIP_UNTIL_MARKED: dict[tuple[str, str], str] = {}  # fmt: skip


def blocks_of(doc: Path) -> list[Block]:
    """``doc``'s Python blocks, those in :data:`SKIP_UNTIL_MARKED` marked as skipped."""
    out = []
    for block in python_blocks(doc, ROOT):
        for (path, line), why in SKIP_UNTIL_MARKED.items():
            if block.path == path and line in block.code:
                assert block.skip is None, (
                    f"{block.where} is marked now: drop it from SKIP_UNTIL_MARKED"
                )
                block = dataclasses.replace(block, skip=why)
        out.append(block)
    return out


def documented() -> list[Path]:
    return [p for p in DOCS if python_blocks(p, ROOT)]


def run_file(blocks: list[Block], work: Path, names: dict[str, str]) -> list[dict[str, object]]:
    path = blocks[0].path
    job, result = work.parent / "job.json", work.parent / "result.json"
    job.write_text(json.dumps(job_for(blocks, GIVEN.get(path, ""), names)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "RAGDISTILL_HOME": str(work.parent / "home"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(job), str(result)],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0 and result.exists(), (
        f"the snippet runner failed for {path}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    outcomes: list[dict[str, object]] = json.loads(result.read_text())
    return outcomes


@pytest.mark.parametrize(
    "doc", [p for p in documented() if p.relative_to(ROOT).as_posix() not in COVERED_ELSEWHERE],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)  # fmt: skip
def test_the_python_blocks_run(doc: Path, snippet_dir: Path, model_names: dict[str, str]) -> None:
    blocks = blocks_of(doc)
    path = blocks[0].path
    if all(b.skip for b in blocks):
        pytest.skip(f"every block of {path} is marked doc-test: skip")
    failed = [o for o in run_file(blocks, snippet_dir, model_names) if not o["ok"]]
    expected = PENDING.get(path, [])
    unexplained = [o for o in failed if not any(text in str(o["error"]) for text, _ in expected)]
    assert not unexplained, "\n\n".join(f"{o['where']}: {o['traceback']}" for o in unexplained)
    fixed = [text for text, _ in expected if not any(text in str(o["error"]) for o in failed)]
    assert not fixed, f"{path} no longer fails with {fixed}: remove it from PENDING"
    if expected:
        pytest.xfail("; ".join(f"{text} -> {fix}" for text, fix in expected))


def test_skips_are_rare_and_listed() -> None:
    marked = {(b.path, b.index): b.skip for p in DOCS for b in python_blocks(p, ROOT) if b.skip}
    assert marked == SKIPPED, "list every <!-- doc-test: skip (...) --> block in SKIPPED"
    pending = [b for p in DOCS for b in blocks_of(p) if b.skip and (b.path, b.index) not in marked]
    assert len(pending) == len(SKIP_UNTIL_MARKED), "a SKIP_UNTIL_MARKED line matches no block"
    marked.update({(b.path, b.index): b.skip for b in pending})
    total = sum(len(python_blocks(p, ROOT)) for p in DOCS)
    assert len(marked) <= max(2, total // 10), "most blocks must run; find a way to run these"


def test_every_doc_with_python_blocks_is_run_or_covered() -> None:
    assert (ROOT / "README.md") in documented()
    for path, test in COVERED_ELSEWHERE.items():
        assert (ROOT / path).exists() and (ROOT / test).exists(), (path, test)
    assert set(GIVEN) | set(PENDING) <= {p.relative_to(ROOT).as_posix() for p in documented()}


def test_the_runner_scopes_imports_to_their_block(tmp_path: Path) -> None:
    from tests.docs.snippets import run, substitute

    assert substitute("m = 'SmolLM2-135M-Instruct'", {"SmolLM2-135M-Instruct": "/t"}) == "m = '/t'"

    doc = tmp_path / "doc.md"
    doc.write_text(
        "```python\nimport json\nfrom os import path as p\nvalue = json.dumps([1])\n"
        "def f():\n    return json.loads(value)\n```\n\n"
        "```python\nassert value == '[1]' and f() == [1]\nassert 'p' not in dir()\njson\n```\n"
        "<!-- doc-test: skip (needs a service) -->\n```python\nraise SystemExit(1)\n```\n"
        "<!-- doc-test: may raise LookupError -->\n```python\nx = given\n{}['k']\n```\n"
        "<!-- doc-test: may raise LookupError -->\n```python\nraise ValueError('no')\n```\n"
        "```python\nprint(x, 'SmolLM2-135M-Instruct')\n```\n"
    )
    blocks = python_blocks(doc, tmp_path)
    assert [b.skip for b in blocks] == [None, None, "needs a service", None, None, None]
    assert [b.raises for b in blocks] == [None, None, None, "LookupError", "LookupError", None]
    outcomes = run(job_for(blocks, "given = 1", {"SmolLM2-135M-Instruct": "tiny"}))
    assert [o["ok"] for o in outcomes] == [True, False, True, False, True]
    assert "NameError: name 'json' is not defined" in str(outcomes[1]["error"])
    assert "KeyError" in str(outcomes[2]["raised"])  # a subclass of LookupError
    assert "ValueError: no" in str(outcomes[3]["error"])

    doc.write_text("<!-- doc-test: skip -->\n```python\npass\n```\n")
    with pytest.raises(ValueError, match="malformed"):
        python_blocks(doc, tmp_path)
