"""Retrieval A/B: teacher vs distilled student (vs the student before distillation)."""

from ragdistill.ab.harness import run_retrieval_ab
from ragdistill.ab.report import write_html_report
from ragdistill.ab.result import ABResult, ArmResult, Comparison

__all__ = ["ABResult", "ArmResult", "Comparison", "run_retrieval_ab", "write_html_report"]
