import pytest

from config_admin.models import ConfigAuditLog


@pytest.fixture(autouse=True)
def empty_audit_log(request):
    """Each test starts with an empty audit log (inside its own transaction, rolled back afterwards): migrations
    that add parameters leave creation entries, and these tests count the entries their own changes make."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("db")
    ConfigAuditLog.objects.all().delete()
