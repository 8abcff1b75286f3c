"""Fixtures of the index tests."""

from __future__ import annotations

import pytest
from index_embedders import HashingEmbedder


@pytest.fixture
def hashing() -> HashingEmbedder:
    return HashingEmbedder()
