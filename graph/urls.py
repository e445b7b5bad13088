"""The graph's pages, included at the site root by ``kgsite/urls.py``."""

from django.urls import path

from graph import views, views_search

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("search/", views_search.SimilaritySearchView.as_view(), name="search"),
    path("search/nodes/", views_search.NodeSuggestionsView.as_view(), name="search_nodes"),
]
