"""Fixtures of the graph tests."""

import importlib

import pytest

from graph.services import embeddings
from tests.embedding_support import MISSING


@pytest.fixture(autouse=True)
def fresh_embedding_providers():
    """Each test loads the embedding provider its settings name (the provider is cached per process)."""
    embeddings._provider.cache_clear()
    yield
    embeddings._provider.cache_clear()


@pytest.fixture
def missing_embedding_provider(monkeypatch, settings):
    """KGSITE_EMBEDDING_PROVIDER names a provider whose module is not installed."""
    monkeypatch.setitem(embeddings.PROVIDERS, MISSING,
                        lambda: importlib.import_module("kgsite_extra_that_is_not_installed"))
    settings.KGSITE_EMBEDDING_PROVIDER = MISSING
