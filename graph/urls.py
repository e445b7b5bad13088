"""The graph's pages, included at the site root by ``kgsite/urls.py``."""

from django.urls import path

from graph import (
    views_dashboard,
    views_duplicates,
    views_hierarchy,
    views_history,
    views_nodes,
    views_ops,
    views_paths,
    views_review,
    views_search,
)

urlpatterns = [
    path("", views_dashboard.DashboardView.as_view(), name="home"),
    # Operations (docs/deployment.md): no login; /metrics checks its own credentials.
    path("healthz", views_ops.healthz, name="healthz"),
    path("healthz/web", views_ops.healthz_web, name="healthz_web"),
    path("metrics", views_ops.metrics, name="metrics"),
    path("search/", views_search.SimilaritySearchView.as_view(), name="search"),
    path("search/nodes/", views_search.NodeSuggestionsView.as_view(), name="search_nodes"),
    path("nodes/<int:node_id>/", views_nodes.NodeDetailView.as_view(), name="node_detail"),
    path("nodes/<int:node_id>/neighbourhood/", views_nodes.NeighbourhoodView.as_view(), name="node_neighbourhood"),
    path("paths/", views_paths.PathsView.as_view(), name="paths"),
    path("hierarchy/", views_hierarchy.HierarchyView.as_view(), name="hierarchy"),
    path("hierarchy/move/", views_hierarchy.HierarchyMoveView.as_view(), name="hierarchy_move"),
    path("review/", views_review.ReviewView.as_view(), name="review"),
    path("review/decide/", views_review.ReviewDecideView.as_view(), name="review_decide"),
    path("duplicates/", views_duplicates.DuplicatesView.as_view(), name="duplicates"),
    path("duplicates/merge/", views_duplicates.MergeView.as_view(), name="merge"),
    path("duplicates/distinct/", views_duplicates.DistinctView.as_view(), name="distinct"),
    path("merges/<int:merge_id>/unmerge/", views_duplicates.UnmergeView.as_view(), name="unmerge"),
    path("nodes/<int:node_id>/history/", views_history.NodeHistoryView.as_view(), name="node_history"),
    path("nodes/<int:node_id>/restore/", views_history.NodeRestoreView.as_view(), name="node_restore"),
    path("history/", views_history.HistoryView.as_view(), name="history"),
    path("history/<str:entry>/", views_history.EntryView.as_view(), name="history_entry"),
    path("history/<str:entry>/revert/", views_history.EntryRevertView.as_view(), name="history_entry_revert"),
    path("history/<str:key>/<int:event_id>/revert/", views_history.EventRevertView.as_view(),
         name="history_event_revert"),
]
