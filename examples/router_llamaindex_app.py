"""A LlamaIndex app whose query engine becomes an online A/B of two RAG pipelines.

The app answers its users through a query engine, keeping each user's conversation.
It was built on an index (see ``llamaindex_app.py``)::

    engine = index.as_query_engine(llm=llm, node_postprocessors=[rerank])

The A/B replaces that ONE line with the router, built from a pipeline spec
(``examples/pipeline.toml``: a teacher pipeline and its distilled stand-in)::

    engine = RagdistillQueryEngine.router_from_spec(SPEC, documents, LOG)

and, so each user stays on one pipeline, the app names the user per request with
``engine.with_key(user)``. The router logs every request to LOG (SQLite); with
``shadow = true`` it also runs the other pipeline off the response path, so the two
can be compared on the same questions. The app records its users' thumbs up/down
(``record_feedback``), and at the end ``ragdistill ab report LOG`` summarises it all.

    python examples/router_llamaindex_app.py                 # the models in pipeline.toml
    python examples/router_llamaindex_app.py --teacher runs/rag-teacher --student runs/rag-student

(``--teacher``/``--student``: folders of one model or artifact per stage, embedder/,
reranker/, generator/, optionally query_transformer/, in place of the spec's arms.)

Needs: pip install llama-index-ragdistill
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SPEC = Path(__file__).with_name("pipeline.toml")
STAGES = ("query_transformer", "embedder", "reranker", "generator")
PASSAGES = [
    "Knowledge distillation trains a small student model to imitate a large teacher model.",
    "A bi-encoder embeds queries and documents separately so documents can be indexed ahead.",
    "A cross-encoder reads the query and a document together and scores their relevance.",
    "Retrieval-augmented generation answers a question from passages a retriever found.",
    "Chroma is an open-source vector database that stores embeddings with their documents.",
    "Paris is the capital of France and its largest city.",
    "The Rhine flows from the Swiss Alps to the North Sea.",
    "Quantization stores model weights in fewer bits to save memory and time.",
]
# (user, question, a word a good source has): each user asks, then follows up.
REQUESTS = [
    ("alice", "What does knowledge distillation do?", "distillation"),
    ("dave", "What is the capital of France?", "paris"),
    ("bob", "What does a cross-encoder do?", "cross-encoder"),
    ("erin", "Where does the Rhine flow?", "rhine"),
    ("alice", "Why is the student model smaller?", "student"),
    ("dave", "Which is its largest city?", "paris"),
    ("bob", "And a bi-encoder?", "bi-encoder"),
    ("erin", "Where does it start?", "alps"),
]


def load_spec(spec: Path, teacher: str | None = None, student: str | None = None) -> dict[str, Any]:
    """The spec file as a mapping; with ``teacher``/``student`` folders, its two arms
    replaced by the models in them (the router, prompt and cost settings are kept)."""
    data = tomllib.loads(spec.read_text(encoding="utf-8"))
    if teacher or student:
        if not (teacher and student):
            raise SystemExit("give both --teacher and --student, or neither")
        data["arms"] = {data["control"]: arm_from(Path(teacher)),
                        data["treatment"]: arm_from(Path(student))}  # fmt: skip
    return data


def arm_from(folder: Path) -> dict[str, dict[str, str]]:
    arm = {s: {"artifact": str(folder / s)} for s in STAGES if (folder / s).is_dir()}
    missing = {"embedder", "generator"} - set(arm)
    if missing:
        raise SystemExit(f"{folder} needs one folder per stage; missing {sorted(missing)}")
    return arm


def serve(engine: Any, requests: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """The app: answers each user's question as the next turn of their conversation
    and records whether they liked it (a source with the word they looked for)."""
    from llama_index.core.base.llms.types import ChatMessage

    chats: dict[str, list[ChatMessage]] = defaultdict(list)
    served = []
    for user, question, wanted in requests:
        response = engine.with_key(user).with_chat_history(chats[user]).query(question)
        answer = str(response.response or "").strip()
        chats[user] += [ChatMessage(role="user", content=question),
                        ChatMessage(role="assistant", content=answer)]  # fmt: skip
        sources = [n.node.get_content() for n in response.source_nodes]
        liked = any(wanted in text.lower() for text in sources)
        engine.record_feedback(response.metadata["request_id"], 1.0 if liked else 0.0)
        served.append({"user": user, "question": question, "answer": answer,
                       "arm": response.metadata["arm"], "liked": liked,
                       "request_id": response.metadata["request_id"], "sources": sources,
                       "seconds": response.metadata["seconds"]})  # fmt: skip
    return served


def run(spec: dict[str, Any], out: Path, *, n_bootstrap: int = 1000) -> dict[str, Any]:
    """Serve REQUESTS through the router, then report on its log."""
    from llama_index.core import Document

    from llama_index_ragdistill import RagdistillQueryEngine

    out.mkdir(parents=True, exist_ok=True)
    log = out / "requests.sqlite"
    documents = [Document(text=p, id_=f"p{i}") for i, p in enumerate(PASSAGES)]
    # The one line: the app's query engine is now the A/B router.
    engine = RagdistillQueryEngine.router_from_spec(spec, documents, log)
    try:
        served = serve(engine, REQUESTS)
    finally:
        engine.close()  # waits for the shadow runs, then closes the log
    report = subprocess.run(
        [sys.executable, "-m", "ragdistill", "ab", "report", str(log),
         "--out", str(out / "report"), "--n-bootstrap", str(n_bootstrap)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if report.returncode != 0:
        raise SystemExit(f"ragdistill ab report failed:\n{report.stderr}")
    return {"requests": served, "log": log, "summary": report.stdout}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=SPEC, help="the pipeline spec (TOML)")
    parser.add_argument("--teacher", help="a folder of per-stage models for the control arm")
    parser.add_argument("--student", help="a folder of per-stage artifacts for the treatment")
    parser.add_argument("--out", type=Path, default=Path("runs/router-llamaindex"),
                        help="folder for the request log and the report")  # fmt: skip
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    result = run(load_spec(args.spec, args.teacher, args.student), args.out,
                 n_bootstrap=args.n_bootstrap)  # fmt: skip
    for r in result["requests"]:
        print(f"\n{r['user']} ({r['arm']}): {r['question']}")
        print(f"   A: {r['answer']}   [{'liked' if r['liked'] else 'not liked'}]")
    print(f"\n$ ragdistill ab report {result['log']} --out {args.out / 'report'}")
    print(result["summary"])
    return result


if __name__ == "__main__":
    main()
