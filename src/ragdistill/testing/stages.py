"""A reusable pytest suite for a registered distillation stage (built-in or a plugin's).

A stage's test module subclasses :class:`StageContract` and provides a ``stage_name``
fixture; every test then checks that stage as the core sees it, through the registry
and the command line, without training anything::

    import pytest
    from ragdistill.testing.stages import StageContract

    class TestMyStage(StageContract):
        @pytest.fixture
        def stage_name(self) -> str:
            return "lexicon"

        # Optional: a recipe small enough to distill in seconds. With it, one more test
        # runs `ragdistill distill RECIPE` end to end and checks the artifact and A/B.
        @pytest.fixture
        def tiny_recipe(self, tmp_path) -> Path:
            return write_tiny_recipe(tmp_path)

A plugin's stage is found only once its plugin is installed: install it (or register it
on the process-wide manager) in an autouse fixture of the test module, and call
:func:`ragdistill.plugins.reset` before and after so other tests see the plugins they
expect. The suite uses only these two fixtures and pytest's ``tmp_path``.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ragdistill.registry import Registry
    from ragdistill.stage import DistillationStage

#: A key no stage's options model should accept: a typo must fail, not be ignored.
TYPO_KEY = "surely_not_an_option_of_any_stage"


def _registry() -> Registry:
    from ragdistill.registry import default_registry

    return default_registry()


def _stage_class(name: str) -> type[DistillationStage[Any]]:
    return _registry().stage(name)


def _printed_path(output: str, label: str) -> Path:
    """The path a command printed after ``label`` (``"student artifact: "``)."""
    found = re.findall(rf"^{re.escape(label)}(.+)$", output, flags=re.MULTILINE)
    assert found, f"the command printed no {label!r} line:\n{output}"
    return Path(found[-1].strip())


class StageContract:
    """Checks a stage registered through ``register_stages``: the registry's view of it,
    its options model, its demo recipe, its A/B command and (given ``tiny_recipe``) a
    whole distillation through ``ragdistill distill``."""

    @pytest.fixture
    def stage_name(self) -> str:
        """The registered name of the stage under test: override it in the subclass."""
        raise NotImplementedError("define a `stage_name` fixture returning the stage's name")

    @pytest.fixture
    def tiny_recipe(self) -> Path:
        """A recipe TOML of this stage that distills in seconds; override to enable the
        end-to-end tests (the default skips them)."""
        pytest.skip("no tiny_recipe fixture: the end-to-end distillation is not run")

    # -- the registration --------------------------------------------------------------

    def test_stage_is_registered(self, stage_name: str) -> None:
        from ragdistill.stage import DistillationStage

        registry = _registry()
        assert stage_name in registry.stage_names(), (
            f"no stage {stage_name!r}; registered: {registry.stage_names()}"
        )
        cls = registry.stage(stage_name)
        assert inspect.isclass(cls) and issubclass(cls, DistillationStage)
        assert not inspect.isabstract(cls), (
            f"{cls.__qualname__} leaves abstract methods unimplemented: "
            f"{sorted(getattr(cls, '__abstractmethods__', ()))}"
        )

    def test_contract_names_the_stage(self, stage_name: str) -> None:
        from ragdistill.contracts import Component

        contract = _stage_class(stage_name).contract
        assert inspect.isclass(contract) and issubclass(contract, Component)
        assert contract.stage == stage_name
        assert inspect.isabstract(contract), (
            f"{contract.__qualname__} declares no abstract method for components to implement"
        )

    def test_summary_is_one_line(self, stage_name: str) -> None:
        summary = _stage_class(stage_name).summary
        assert isinstance(summary, str) and summary.strip(), "set `summary` (one line)"
        assert "\n" not in summary

    def test_teachers_and_students_are_registered(self, stage_name: str) -> None:
        from ragdistill.students import Student

        registry = _registry()
        contract = _stage_class(stage_name).contract
        teachers = registry.entries("teacher", stage=stage_name)
        assert teachers, f"no teacher is registered for the {stage_name} stage"
        for entry in teachers:
            assert issubclass(entry.obj, contract), (
                f"teacher {entry.name!r} ({entry.obj.__qualname__}) does not subclass "
                f"{contract.__qualname__}"
            )
        students = registry.entries("student", stage=stage_name)
        assert students, f"no student is registered for the {stage_name} stage"
        kinds = {e.name for e in teachers}
        for entry in students:
            student = entry.obj
            assert issubclass(student, Student) and student.stage == stage_name
            # The manifest's `loader` names the teacher that loads a saved student back.
            assert student.loader in kinds, (
                f"student {entry.name!r} is loaded back by teacher {student.loader!r}, "
                f"which is not a registered {stage_name} teacher ({', '.join(sorted(kinds))})"
            )

    def test_a_loss_distills_the_stage(self, stage_name: str) -> None:
        pytest.importorskip("torch", reason="the losses need torch")
        from ragdistill.losses.base import DistillationLoss

        # A recipe needs at least one [[losses]] table whose loss supports its stage.
        losses = [
            e.name
            for e in _registry().entries("loss")
            if issubclass(e.obj, DistillationLoss) and e.obj.supports(stage_name)
        ]
        assert losses, f"no registered loss supports the {stage_name} stage"

    # -- the [<stage>] options ---------------------------------------------------------

    def test_options_build_with_defaults_and_refuse_typos(self, stage_name: str) -> None:
        from pydantic import ValidationError

        from ragdistill.stage import StageOptions

        options = _stage_class(stage_name).Options
        assert inspect.isclass(options) and issubclass(options, StageOptions)
        options()  # every option has a default: a recipe may leave the table out
        with pytest.raises(ValidationError, match=TYPO_KEY):
            options.model_validate({TYPO_KEY: 1})

    def test_moved_options_land_on_fields(self, stage_name: str) -> None:
        cls = _stage_class(stage_name)
        for old, option in cls.moved_options.items():
            assert isinstance(old, str) and old, "a moved option's old place is a dotted path"
            assert option in cls.Options.model_fields, (
                f"moved option {old!r} points at {option!r}, not a field of "
                f"{cls.Options.__qualname__}"
            )

    def test_later_options_are_off_by_default(self, stage_name: str) -> None:
        # A recipe that leaves a later option at its default keeps its old fingerprint.
        cls = _stage_class(stage_name)
        defaults = cls.Options()
        for key, off in cls.later_options.items():
            assert key in cls.Options.model_fields, f"later option {key!r} is not a field"
            default = getattr(defaults, key)
            dumped = defaults.model_dump(mode="json")[key]
            assert off in (default, dumped), (
                f"later option {key!r}: its off value {off!r} is not its default {default!r}"
            )

    # -- the demo recipe ---------------------------------------------------------------

    def test_quickstart_recipe_parses(self, stage_name: str) -> None:
        from importlib import resources

        from ragdistill.recipes import parse_recipe, tomllib

        quickstart = _stage_class(stage_name).quickstart
        if quickstart is None:
            pytest.skip(f"the {stage_name} stage has no quickstart recipe")
        package, file = quickstart
        resource = resources.files(package).joinpath(file)
        assert resource.is_file(), f"quickstart recipe {package}/{file} is not in the package"
        recipe = parse_recipe(tomllib.loads(resource.read_text()), where=f"{package}/{file}")
        assert recipe.stage == stage_name

    # -- the A/B command ---------------------------------------------------------------

    def test_ab_command_has_help(self, stage_name: str) -> None:
        import click
        from click.testing import CliRunner

        from ragdistill.cli import build_cli

        command = _stage_class(stage_name)().ab_command()
        assert isinstance(command, click.Command)
        result = CliRunner().invoke(command, ["--help"])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(build_cli(), ["ab", stage_name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output

    # -- end to end (needs tiny_recipe) ------------------------------------------------

    def test_tiny_recipe_checks(self, stage_name: str, tiny_recipe: Path) -> None:
        from click.testing import CliRunner

        from ragdistill.cli import build_cli

        result = CliRunner().invoke(build_cli(), ["distill", str(tiny_recipe), "--check"])
        assert result.exit_code == 0, result.output
        assert f"valid {stage_name} recipe" in result.output

    def test_distill_end_to_end(self, stage_name: str, tiny_recipe: Path) -> None:
        """``ragdistill distill RECIPE``: a loadable artifact of the stage, and its A/B."""
        from click.testing import CliRunner

        from ragdistill.artifacts import read_manifest
        from ragdistill.cli import build_cli
        from ragdistill.loading import load_component

        result = CliRunner().invoke(
            build_cli(), ["distill", str(tiny_recipe), "-q"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        artifact = _printed_path(result.output, "student artifact: ")
        manifest = read_manifest(artifact)
        assert manifest is not None, f"{artifact} has no manifest"
        assert manifest["stage"] == stage_name
        cls = _stage_class(stage_name)
        component = load_component(artifact, stage=stage_name)
        assert isinstance(component, cls.contract)

        report = _printed_path(result.output, "A/B report: ")
        assert report.is_file(), f"{report} was not written"
        ab_json = report.parent / "ab.json"
        assert ab_json.is_file(), f"no ab.json beside {report}"
        assert isinstance(json.loads(ab_json.read_text()), dict)
        summary = cls().ab_summary(report)
        assert isinstance(summary, str) and summary.strip()
