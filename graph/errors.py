"""Errors of the knowledge graph's services, with their stable codes (registry: docs/errors.md).

Raise with a constant, never a literal: ``raise GraphError("nodes[3] ('python'): ...", code=BAD_RECORD)``.
"""

from __future__ import annotations

from kgsite.errors import DomainError, NotFound

# --- Loading a graph from a file (the demo graph now, imports next) ---------------------------------------------
BAD_RECORD = "RG-IMPORT-001"  # a record fails validation; the message says which record (nodes[3] ('python'): ...)
UNREADABLE_FILE = "RG-IMPORT-002"  # the file cannot be read, is not JSON, or its top level is not the format's
IMPORT_UPLOAD_TOO_LARGE = "RG-IMPORT-003"  # an upload larger than import_max_upload_mb
IMPORT_JOB_STATE = "RG-IMPORT-004"  # confirming or cancelling an import whose status does not allow it
EXPORT_BAD_OPTION = "RG-EXPORT-001"  # export_graph: an unknown format, a malformed or unknown subtree, a bad target

# --- The synthetic-graph generator --------------------------------------------------------------------------------
GRAPH_TOO_SMALL = "RG-GEN-001"  # fewer nodes asked for than the generated graph has roots
GRAPH_NOT_EMPTY = "RG-GEN-002"  # the graph already has nodes and appending was not asked for

# --- The node hierarchy (graph/sql/node_hierarchy.sql raises the same codes from the database) ---------------------
PATH_PARENT_MISMATCH = "RG-NODE-001"  # the path is not the parent's path plus one label
PARENT_WITHOUT_PATH = "RG-NODE-003"  # the parent has no path, or a node with children would lose its path
HIERARCHY_CYCLE = "RG-NODE-004"  # a node cannot move under itself or one of its descendants
NO_NODE_AT_PATH = "RG-NODE-005"  # the path's prefix names no node, so the node has no parent to go under
PARENT_MISSING = "RG-NODE-006"  # the parent node does not exist
PATH_TAKEN = "RG-NODE-002"  # a move would give the node (or a descendant) a path another node already has
NODE_MISSING = "RG-NODE-008"  # the node to act on does not exist
HIERARCHY_DATA_INVALID = "RG-NODE-009"  # migrating a database whose existing nodes break the rule (graph.0006)

# --- Attributes and materialized views -----------------------------------------------------------------------------
DUPLICATE_ATTRIBUTE = "RG-ATTR-001"  # the node already has an attribute with this type, key and value
DUPLICATE_ATTRIBUTES_PRESENT = "RG-ATTR-002"  # migrating a database whose nodes hold an attribute twice (graph.0013)
UNKNOWN_VIEW = "RG-VIEW-001"  # no materialized view of that name
VIEW_TOO_LARGE_FOR_REQUEST = "RG-VIEW-002"  # the similarity cache is too large to refresh inside a web request

# --- Confidence scores ----------------------------------------------------------------------------------------------
RECALCULATION_RUNNING = "RG-CONF-001"  # another recalculate_confidence holds the lock

# --- Relationship inference and its worker ---------------------------------------------------------------------------
BAD_INFERENCE_SETTING = "RG-INFER-001"  # inference_relationship_type cannot name a relationship type
NOTHING_TO_QUEUE = "RG-INFER-002"  # queueing asked for nodes that do not exist (or said no nodes)
QUEUE_ITEM_STATE = "RG-INFER-003"  # a retry or cancel of queue items whose status does not allow it

# --- Curation: the review of inferred links (docs/curation.md) ------------------------------------------------------
REVIEW_BAD_DECISION = "RG-REVIEW-001"  # a decision without a needed reason, with a bad one, or of an unknown kind
REVIEW_NOTHING_PENDING = "RG-REVIEW-002"  # the link decided on is no longer pending (decided or deleted meanwhile)
REVIEW_REJECTED_LINK = "RG-REVIEW-003"  # creating a link a curator rejected (withdraw the rejection first)
REVIEW_BAD_FILTER = "RG-REVIEW-004"  # a review queue filter or page out of range

# --- Duplicates, merges and the history of edits (docs/duplicates.md, docs/history.md) -----------------------------
DUPLICATE_BAD_OPTION = "RG-DUP-001"  # a duplicate search or candidate page option is malformed or out of range
DUPLICATE_BAD_PAIR = "RG-DUP-002"  # "not the same" for a node and itself, an unknown node, or a reason that is too long
MERGE_NOT_ALLOWED = "RG-MERGE-001"  # a merge of a node into itself, into its own subtree, or of children into no path
MERGE_UNKNOWN = "RG-MERGE-002"  # no merge with that id (a 404 on the page)
MERGE_ALREADY_UNDONE = "RG-MERGE-003"  # unmerge of a merge that was already undone
MERGE_CANNOT_UNDO = "RG-MERGE-004"  # unmerge blocked: the survivor is gone, or the merged id, path or key is taken
HISTORY_UNKNOWN = "RG-HIST-001"  # no history event or entry with that id (a 404 on the page)
HISTORY_CANNOT_REVERT = "RG-HIST-002"  # a revert or restore the database refuses (a row it needs is gone or taken)
HISTORY_BAD_PARAMETER = "RG-HIST-003"  # a history page or prune_history option is malformed or out of range

# --- Embeddings, vectors and similarity search -----------------------------------------------------------------------
EMBEDDING_PROVIDER_UNAVAILABLE = "RG-EMBED-001"  # the configured provider cannot be loaded (extra not installed)
EMBEDDING_TEXT_EMPTY = "RG-EMBED-002"  # nothing to embed: the text has no words
VECTOR_UNPARSABLE = "RG-VEC-001"  # a pasted vector is not a list of numbers
VECTOR_WRONG_LENGTH = "RG-VEC-002"  # a vector without exactly 768 components
VECTOR_NOT_FINITE = "RG-VEC-003"  # a vector with NaN or an infinite component
VECTOR_ZERO = "RG-VEC-004"  # a zero vector, which has no cosine direction
SEARCH_BAD_QUERY = "RG-SEARCH-001"  # no query (node, text or vector), more than one, or a mode/target unknown
SEARCH_BAD_FILTER = "RG-SEARCH-002"  # a filter or limit out of range, or a malformed subtree path
SEARCH_UNKNOWN_NODE = "RG-SEARCH-003"  # the query node (or resource) does not exist (a 404 on the page)
SEARCH_NODE_WITHOUT_EMBEDDING = "RG-SEARCH-004"  # the query node has no embedding yet
VECTOR_INDEX_BAD_OPTION = "RG-VIDX-001"  # an unknown table or index type, or a parameter that cannot build an index
VECTOR_INDEX_BUSY = "RG-VIDX-002"  # another optimiser run holds the table's lock
VECTOR_INDEX_REBUILD_FAILED = "RG-VIDX-003"  # a worker's optimiser run failed on a table (recorded in the run)
EXPLORE_BAD_PARAMETER = "RG-EXPLORE-001"  # an exploration page's parameter is malformed or out of range (a 400 page)
EXPLORE_UNKNOWN_NODE = "RG-EXPLORE-002"  # the node (or path) an exploration page asks for does not exist (a 404)


class GraphError(DomainError):
    """A refusal of a graph service or of the database's graph rules. Every raise names its code: a constant above."""

    def __init__(self, message: str, *, code: str, **context):
        super().__init__(message, code=code, **context)


class GraphNotFound(GraphError, NotFound):
    """A node (or path) a page asks for does not exist: the page answers 404 naming it."""
