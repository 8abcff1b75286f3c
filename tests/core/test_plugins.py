"""Plugin discovery and every way a plugin can be broken, through real entry points."""

from __future__ import annotations

import re

import pytest

from ragdistill.errors import PluginError
from ragdistill.plugins import get_plugin_manager
from ragdistill.registry import Registry, build_registry
from tests.core.fake_dists import EMBEDDER_PLUGIN, PluginInstaller


@pytest.fixture
def installer(tmp_path, monkeypatch):
    monkeypatch.delenv("RAGDISTILL_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("RAGDISTILL_DISABLE_PLUGINS", raising=False)
    return PluginInstaller(tmp_path, monkeypatch)


def test_entry_point_plugin_is_loaded_and_used(installer):
    installer.install(
        "rd-length",
        entry_name="length",
        module="rd_length",
        source=EMBEDDER_PLUGIN.replace("{name}", "length"),
    )
    pm = get_plugin_manager()
    info = pm.report.loaded["length"]
    assert (info.distribution, info.version, info.builtin) == ("rd-length", "1.2.3", False)
    registry = build_registry(pm)
    cls = registry.teacher("embedder", "length")
    embedder = cls.from_options({"scale": 2.0})
    assert embedder.embed_many(["abc", "e"]).tolist() == [[6.0, 1.0], [2.0, 1.0]]
    assert [e.plugin for e in registry.entries("teacher") if e.name == "length"] == ["length"]


def test_plugin_that_fails_to_import_is_reported_and_others_load(installer, caplog):
    installer.install(
        "rd-broken",
        entry_name="broken",
        module="rd_broken",
        source="import a_module_that_does_not_exist\n",
    )
    installer.install(
        "rd-length",
        entry_name="length",
        module="rd_length",
        source=EMBEDDER_PLUGIN.replace("{name}", "length"),
    )
    pm = get_plugin_manager()
    assert "length" in pm.report.loaded
    [failed] = pm.report.failed
    assert failed.name == "broken" and failed.distribution == "rd-broken"
    assert "a_module_that_does_not_exist" in failed.error
    assert "'broken'" in caplog.text and "RAGDISTILL_DISABLE_PLUGINS=broken" in caplog.text


def test_duplicate_name_names_both_plugins(installer):
    for dist, entry, module in [("rd-one", "one", "rd_one"), ("rd-two", "two", "rd_two")]:
        installer.install(
            dist,
            entry_name=entry,
            module=module,
            source=EMBEDDER_PLUGIN.replace("{name}", "same-name"),
        )
    registry = build_registry(get_plugin_manager())
    [failed] = registry.failed  # the later plugin (by name) is dropped, the first kept
    assert (failed.name, failed.distribution) == ("two", "rd-two")
    message = failed.error
    assert "'same-name'" in message and "'one'" in message and "'two'" in message
    assert "Rename" in message
    [kept] = [e for e in registry.entries("teacher") if e.name == "same-name"]
    assert kept.plugin == "one" and not registry.by_plugin("two")


def test_duplicate_of_a_builtin_name_is_refused(installer):
    installer.install(
        "rd-clash",
        entry_name="clash",
        module="rd_clash",
        source=EMBEDDER_PLUGIN.replace("{name}", "sentence-transformers"),
    )
    registry = build_registry(get_plugin_manager())
    [failed] = registry.failed
    assert failed.name == "clash" and "Rename" in failed.error
    [kept] = [e for e in registry.entries("teacher") if e.name == "sentence-transformers"]
    assert kept.plugin == "ragdistill.stages.embedder.plugin"


def test_misspelled_hook_fails_naming_plugin_and_suggesting_the_hook(installer):
    source = EMBEDDER_PLUGIN.replace("{name}", "x").replace(
        "def register_teachers(", "def register_teacher("
    )
    installer.install("rd-typo", entry_name="typo", module="rd_typo", source=source)
    pm = get_plugin_manager()  # the plugin is unregistered and reported, not fatal
    assert not pm.has_plugin("typo") and "typo" not in pm.report.loaded
    [failed] = pm.report.failed
    message = failed.error
    assert "'typo'" in message and "'register_teacher'" in message
    assert "did you mean 'register_teachers'" in message


def test_registering_a_non_component_names_the_plugin(installer):
    source = """
from ragdistill.hookspecs import hookimpl

class NotAComponent:
    pass

@hookimpl
def register_teachers(register):
    register("bad", NotAComponent)
"""
    installer.install("rd-bad", entry_name="bad", module="rd_bad", source=source)
    [failed] = build_registry(get_plugin_manager()).failed
    assert re.search(r"plugin 'bad'.*implements no stage contract", failed.error)


@pytest.mark.parametrize(
    ("env", "loaded"),
    [
        ({"RAGDISTILL_LOAD_PLUGINS": "length"}, {"length"}),
        ({"RAGDISTILL_LOAD_PLUGINS": ""}, set()),
        ({"RAGDISTILL_DISABLE_PLUGINS": "length"}, {"other"}),
        ({}, {"length", "other"}),
    ],
)
def test_environment_selects_plugins(installer, env, loaded):
    installer.install(
        "rd-length",
        entry_name="length",
        module="rd_length",
        source=EMBEDDER_PLUGIN.replace("{name}", "length"),
    )
    installer.install(
        "rd-other",
        entry_name="other",
        module="rd_other",
        source=EMBEDDER_PLUGIN.replace("{name}", "other"),
    )
    pm = get_plugin_manager(env=env)
    ours = {"length", "other"}  # other installed plugins (ragdistill-openai) may load too
    third_party = {name for name, info in pm.report.loaded.items() if not info.builtin}
    assert third_party & ours == loaded
    assert set(pm.report.skipped) & ours == ours - loaded


def test_builtins_are_registered_through_the_hooks():
    registry = build_registry(get_plugin_manager(entry_points=False))
    plugins = {e.plugin for e in registry.entries()}
    assert all(p.startswith(("ragdistill.default_plugins.", "ragdistill.stages.")) for p in plugins)
    assert registry.stage_names()[:2] == ["embedder", "reranker"]
    assert registry.student("embedder", "sentence-transformers")
    assert registry.runtime("torch")


def test_unknown_name_suggests_the_closest():
    registry = build_registry(get_plugin_manager(entry_points=False))
    with pytest.raises(KeyError, match="did you mean 'torch'"):
        registry.runtime("trch")


def test_every_hook_is_documented_and_typed():
    import inspect

    from ragdistill import hookspecs

    for name in hookspecs.hook_names():
        func = getattr(hookspecs, name)
        assert func.__doc__ and len(func.__doc__) > 40, name
        signature = inspect.signature(func)
        assert all(
            p.annotation is not inspect.Parameter.empty for p in signature.parameters.values()
        )
        assert signature.return_annotation in ("None", None)


STAGE_PLUGIN = """
from ragdistill.contracts import Embedder
from ragdistill.hookspecs import hookimpl
from ragdistill.stage import DistillationStage


class Broken(DistillationStage):
    contract = {contract}

    def distill(self, recipe, *, restart, show_progress): ...
    def ab_for_recipe(self, recipe, artifact, *, show_progress): ...
    def ab_summary(self, report): ...
    def ab_command(self): ...


@hookimpl
def register_stages(register):
    register({name!r}, {cls})
"""


@pytest.mark.parametrize(
    ("name", "contract", "cls", "error"),
    [
        # A stage's name must be its contract's stage: teachers are found by it.
        ("retriever", "Embedder", "Broken", r"contract.*whose `stage` is 'retriever'"),
        ("embedder", "None", "Broken", r"contract.*whose `stage` is 'embedder'"),
        # It names the recipe's [<stage>] table, so it cannot shadow a recipe section.
        ("train", "Embedder", "Broken", r"not a recipe section"),
        ("two words", "Embedder", "Broken", r"must be an identifier"),
        (
            "x",
            "Embedder",
            "dict",
            r"must register a subclass of ragdistill\.stage\.DistillationStage",
        ),
    ],
)
def test_a_badly_declared_stage_names_the_plugin_and_the_fix(installer, name, contract, cls, error):
    source = STAGE_PLUGIN.format(name=name, contract=contract, cls=cls)
    installer.install("rd-stage", entry_name="badstage", module="rd_badstage", source=source)
    registry = build_registry(get_plugin_manager(), kinds=("stage",))
    [failed] = registry.failed
    assert re.search(rf"plugin 'badstage'.*{error}", failed.error)
    assert registry.stage_names()[:2] == ["embedder", "reranker"]


def test_a_second_embedder_stage_is_a_duplicate(installer):
    source = STAGE_PLUGIN.format(name="embedder", contract="Embedder", cls="Broken")
    installer.install("rd-stage", entry_name="dupstage", module="rd_dupstage", source=source)
    registry = build_registry(get_plugin_manager(), kinds=("stage",))
    [failed] = registry.failed
    assert re.search(r"duplicate stage name 'embedder'.*'dupstage'", failed.error)
    assert registry.stage("embedder").__module__.startswith("ragdistill.stages.embedder")


def test_a_loss_without_a_stage_is_refused_at_registration() -> None:
    from ragdistill.losses.base import DistillationLoss

    class NoStage(DistillationLoss):
        def forward(self, student, teacher, **batch):  # type: ignore[no-untyped-def]
            return student

    with pytest.raises(PluginError, match=r"plugin 'p': loss 'x' .* set its class attribute"):
        Registry().add("loss", "x", NoStage, plugin="p")


def test_a_broken_builtin_is_a_bug_and_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from ragdistill.default_plugins import runtimes
    from ragdistill.hookspecs import hookimpl

    @hookimpl
    def register_runtimes(register: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(runtimes, "register_runtimes", register_runtimes)
    pm = get_plugin_manager(entry_points=False)
    with pytest.raises(PluginError, match=r"runtimes': its register_runtimes hook raised"):
        build_registry(pm, kinds=("runtime",))
