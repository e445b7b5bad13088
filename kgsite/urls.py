from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from kgsite.forms import EmailAuthenticationForm

# A refusal names the permission it needed (the admin's own checks say nothing: kgsite/views.py).
handler403 = "kgsite.views.permission_denied"
# An unreachable database is a 503 that says so (and the next request reconnects), not a 500.
handler500 = "kgsite.views.server_error"

# Password reset by email is not offered: kgsite sends no mail. Administrators set passwords in the admin.
# One login page for the whole site: the admin's /admin/login/ redirects here (kgsite/admin.py).
urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
    path("admin/", admin.site.urls),
    # The apps' own pages. Included by dotted path: the project layer imports no app (docs/architecture.md).
    path("", include("graph.urls")),
]
