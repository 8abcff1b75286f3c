"""Retrieval metrics, paired bootstrap confidence intervals and efficiency measurements."""

from ragdistill.evaluation.bootstrap import (
    BootstrapCI,
    bootstrap_mean,
    bootstrap_share,
    paired_bootstrap,
)
from ragdistill.evaluation.retrieval import (
    evaluate_run,
    mrr_at_k,
    ndcg_at_k,
    overlap_at_k,
    recall_at_k,
)

__all__ = [
    "BootstrapCI",
    "bootstrap_mean",
    "bootstrap_share",
    "evaluate_run",
    "mrr_at_k",
    "ndcg_at_k",
    "overlap_at_k",
    "paired_bootstrap",
    "recall_at_k",
]
