"""Rerank with a distilled reranker artifact, in LlamaIndex and in LangChain.

Distill one first (all models install offline), then point this at its artifact::

    ragdistill distill src/ragdistill/stages/reranker/quickstart.toml
    python examples/rerank_distilled.py runs/reranker-quickstart/student

The artifact may be any reranker student (cross-encoder, bi-encoder, ColBERT): its
manifest says how to load it, so both integrations take the folder as is. Each prints
the passages in its new order with the student's scores.

Needs: pip install llama-index-ragdistill langchain-ragdistill
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_ARTIFACT = "runs/reranker-quickstart/student"
QUERY = "Can I get a refund of an overdraft fee?"
PASSAGES = [
    "Wire transfers above the daily limit need a call to the branch.",
    "Overdraft fees are refunded once a year on request if the account is in good standing.",
    "The mobile app lets you freeze a lost card at any time.",
    "Savings accounts earn interest monthly, paid on the first business day.",
    "A fee charged in error is refunded within five business days after a dispute.",
]


def rerank_llamaindex(artifact: str, query: str, top_n: int) -> list[tuple[str, float]]:
    from llama_index.core.schema import NodeWithScore, TextNode

    from llama_index_ragdistill import RagdistillRerank

    postprocessor = RagdistillRerank.from_artifact(artifact, top_n=top_n)
    nodes = [NodeWithScore(node=TextNode(text=text), score=0.0) for text in PASSAGES]
    ranked = postprocessor.postprocess_nodes(nodes, query_str=query)
    return [(n.node.get_content(), float(n.score or 0.0)) for n in ranked]


def rerank_langchain(artifact: str, query: str, top_n: int) -> list[tuple[str, float]]:
    from langchain_core.documents import Document

    from langchain_ragdistill import RagdistillRerank

    compressor = RagdistillRerank.from_pretrained(artifact, top_n=top_n)
    ranked = compressor.compress_documents([Document(page_content=t) for t in PASSAGES], query)
    return [(d.page_content, d.metadata["relevance_score"]) for d in ranked]


def main(argv: list[str] | None = None) -> dict[str, list[tuple[str, float]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", nargs="?", default=DEFAULT_ARTIFACT)
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--top-n", type=int, default=3)
    args = parser.parse_args(argv)
    if not Path(args.artifact).is_dir():
        parser.error(
            f"{args.artifact} does not exist; distill a reranker first: "
            "ragdistill distill src/ragdistill/stages/reranker/quickstart.toml"
        )
    out = {}
    for name, rerank in (("LlamaIndex", rerank_llamaindex), ("LangChain", rerank_langchain)):
        start = time.perf_counter()
        out[name] = rerank(args.artifact, args.query, args.top_n)
        print(f"\n{name} ({time.perf_counter() - start:.2f}s, including loading): {args.query}")
        for text, score in out[name]:
            print(f"   [{score:+.3f}] {text}")
    return out


if __name__ == "__main__":
    main()
