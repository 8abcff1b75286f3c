"""LangChain's own standard suites (langchain-tests) on the chat model and the embeddings."""

from __future__ import annotations

from typing import Any

import pytest

from langchain_ragdistill import ChatRagdistill, RagdistillEmbeddings

standard = pytest.importorskip("langchain_tests.integration_tests")
unit = pytest.importorskip("langchain_tests.unit_tests")


class _Component:
    """Hands a fixture's component to the suites, which read class properties, not fixtures."""

    component: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return {"component": type(self).component}


class TestEchoChatUnit(_Component, unit.ChatModelUnitTests):
    @pytest.fixture(autouse=True)
    def _use(self, echo_generator: Any) -> None:
        type(self).component = echo_generator

    chat_model_class = ChatRagdistill  # type: ignore[assignment]

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return self.params

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # timeout and max_retries are for remote APIs; a local model takes neither.
        return {"temperature": 0, "max_tokens": 100, "stop": []}

    @property
    def has_tool_calling(self) -> bool:
        return False  # bind_tools is overridden only to say so

    @property
    def has_structured_output(self) -> bool:
        # The unit suite also asks for method="function_calling", which needs tool
        # calling; structured output runs in TestJsonChatIntegration below instead.
        return False

    @pytest.mark.xfail(
        reason="a component built in code has no description, so dumpd gives 'not_implemented' "
        "(and allowed_objects='all' admits only LangChain's own mapping); described adapters "
        "round-trip in test_langchain_copies.py",
        strict=True,
    )
    def test_serdes(self, model: Any, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


class TestEchoChatIntegration(_Component, standard.ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _use(self, echo_generator: Any) -> None:
        type(self).component = echo_generator

    chat_model_class = ChatRagdistill  # type: ignore[assignment]

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return self.params

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @pytest.mark.xfail(reason="Generator.stream yields text only: streams carry no token counts")
    def test_usage_metadata_streaming(self, model: Any) -> None:
        super().test_usage_metadata_streaming(model)


class TestHashingEmbeddingsUnit(_Component, unit.EmbeddingsUnitTests):
    @pytest.fixture(autouse=True)
    def _use(self, hashing_embedder: Any) -> None:
        type(self).component = hashing_embedder

    embeddings_class = RagdistillEmbeddings  # type: ignore[assignment]

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return self.params


class TestHashingEmbeddingsIntegration(_Component, standard.EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _use(self, hashing_embedder: Any) -> None:
        type(self).component = hashing_embedder

    embeddings_class = RagdistillEmbeddings  # type: ignore[assignment]

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return self.params


class TestTinyEmbeddingsIntegration(_Component, standard.EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _use(self, tiny_embedder: Any) -> None:
        type(self).component = tiny_embedder

    embeddings_class = RagdistillEmbeddings  # type: ignore[assignment]

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return self.params


class TestTinyChatIntegration(_Component, standard.ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _use(self, tiny_generator: Any) -> None:
        type(self).component = tiny_generator

    chat_model_class = ChatRagdistill  # type: ignore[assignment]

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return self.params

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @pytest.mark.xfail(reason="Generator.stream yields text only: streams carry no token counts")
    def test_usage_metadata_streaming(self, model: Any) -> None:
        super().test_usage_metadata_streaming(model)


class TestJsonChatIntegration(_Component, standard.ChatModelIntegrationTests):
    """LangChain's structured-output tests on a generator that answers with JSON."""

    @pytest.fixture(autouse=True)
    def _use(self, json_generator: Any) -> None:
        type(self).component = json_generator

    chat_model_class = ChatRagdistill  # type: ignore[assignment]

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return self.params

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return True

    @pytest.mark.xfail(reason="Generator.stream yields text only: streams carry no token counts")
    def test_usage_metadata_streaming(self, model: Any) -> None:
        super().test_usage_metadata_streaming(model)
