"""The graph's pages, included at the site root by ``kgsite/urls.py``."""

from django.urls import path

from graph import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
]
