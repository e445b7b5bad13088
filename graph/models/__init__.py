from graph.models.attributes import NodeAttribute
from graph.models.confidence import ConfidenceRecalculation
from graph.models.curation import InferenceReason, InferenceRejection, PendingLink, ReviewDecision
from graph.models.duplicates import DistinctPair, DuplicateCandidate, NodeMerge
from graph.models.embeddings import EmbeddingQueueItem, VectorIndexBuild
from graph.models.imports import ImportJob
from graph.models.inference import InferenceQueueItem, MaintenanceRun
from graph.models.nodes import Node
from graph.models.ops import WorkerHeartbeat
from graph.models.references import Reference
from graph.models.relationships import Relationship
from graph.models.resources import ExternalResource, NodeResourceLink
from graph.models.views import (
    EmbeddingSimilarityCache,
    GraphConnectivityStats,
    MaterializedViewRefresh,
    NodeConfidenceCache,
    PopularEntityRanking,
    RelationshipStrengthMatrix,
)

__all__ = [
    "ConfidenceRecalculation", "DistinctPair", "DuplicateCandidate", "EmbeddingQueueItem",
    "EmbeddingSimilarityCache", "ExternalResource", "GraphConnectivityStats", "ImportJob", "InferenceQueueItem",
    "InferenceReason", "InferenceRejection", "MaintenanceRun", "MaterializedViewRefresh", "Node", "NodeAttribute",
    "NodeConfidenceCache", "NodeMerge", "NodeResourceLink", "PendingLink", "PopularEntityRanking", "Reference",
    "Relationship", "RelationshipStrengthMatrix", "ReviewDecision", "VectorIndexBuild", "WorkerHeartbeat",
]
from graph.models.history import EVENT_MODELS  # noqa: F401,E402  (registers the history triggers)
