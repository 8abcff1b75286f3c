"""Trainable students: build a model to train, save it as a plain-library artifact.

A :class:`Student` subclass has a typed ``__init__`` (its recipe options) and one
abstract method, :meth:`Student.build`, returning a :class:`StudentModel`: a torch
module whose ``forward`` maps a batch of inputs to the outputs the losses compare with
the teacher's, and which can save itself in its library's own format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from ragdistill.contracts import Stage
from ragdistill.contracts.base import _is_plain

if TYPE_CHECKING:
    from ragdistill.students.model import StudentModel


class Student(ABC):
    stage: ClassVar[Stage]
    #: Teacher-registry name of the component that loads a saved artifact back.
    loader: ClassVar[str]
    #: The validated options it was built from; empty (and read-only) when built directly.
    options: Mapping[str, Any] = MappingProxyType({})

    @classmethod
    def from_options(cls, options: dict[str, Any], *, where: str = "student") -> Student:
        from ragdistill.config import validate_options

        kwargs = validate_options(cls, options, where=where)
        student = cls(**kwargs)
        student.options = dict(kwargs)
        return student

    @abstractmethod
    def build(self) -> StudentModel:
        """The trainable model, initialised (from pretrained weights where given)."""

    def describe(self) -> dict[str, Any]:
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "stage": self.stage,
            "options": {k: v for k, v in self.options.items() if _is_plain(v)},
        }

    def load_options(self) -> dict[str, Any]:
        """Options the loader component needs beyond the artifact path."""
        return {}


def artifact_dir(output: Path) -> Path:
    return output / "student"
