"""``manage.py quickstart --no-serve``: migrations, the superuser and the demo graph (gunicorn is never started)."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from graph.models import Node
from kgsite.errors import BAD_OPTION_VALUE
from kgsite.services import EMAIL_TAKEN, INVALID_EMAIL, PASSWORD_REFUSED, AccountError, admin_account_ensure

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture(autouse=True)
def no_admin_env(monkeypatch):
    monkeypatch.delenv("KGSITE_ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("KGSITE_ADMIN_PASSWORD", raising=False)


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("quickstart", "--no-serve", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_creates_superuser_and_prints_password_once():
    output = run()
    match = re.search(r"Created superuser admin@example\.com with password: (\S+)", output)
    assert match, output
    admin = User.objects.get(is_superuser=True)
    assert admin.email == "admin@example.com" and admin.is_staff and admin.is_active
    assert admin.check_password(match[1])
    assert "http://127.0.0.1:8000/" in output
    assert "Login:  admin@example.com" in output
    assert Node.objects.filter(source="demo", created_by=admin).exists()
    # The views are refreshed after loading, so the home page's node-type statistics are filled.
    from graph.models import GraphConnectivityStats
    assert GraphConnectivityStats.objects.filter(node_type="language", node_count__gt=30).exists()

    second = run()
    assert User.objects.filter(is_superuser=True).count() == 1
    assert "already exists; its password is unchanged" in second
    assert match[1] not in second
    assert "Demo graph already loaded" in second


def test_uses_env_credentials(monkeypatch):
    monkeypatch.setenv("KGSITE_ADMIN_EMAIL", "Owner@Example.org")
    monkeypatch.setenv("KGSITE_ADMIN_PASSWORD", "a-long-Passphrase-42")
    output = run("--no-demo")
    admin = User.objects.get(is_superuser=True)
    assert admin.email == "Owner@example.org"
    assert admin.check_password("a-long-Passphrase-42")
    assert "a-long-Passphrase-42" not in output
    assert "password from KGSITE_ADMIN_PASSWORD" in output
    assert not Node.objects.exists()


def test_existing_superuser_is_kept(superuser):
    output = run("--no-demo", "--bind", "0.0.0.0:9000")
    assert list(User.objects.filter(is_superuser=True)) == [superuser]
    assert f"Superuser {superuser.email} already exists" in output
    assert "http://127.0.0.1:9000/" in output


def test_weak_env_password_is_refused(monkeypatch):
    monkeypatch.setenv("KGSITE_ADMIN_PASSWORD", "123")
    with pytest.raises(CommandError, match=f"^{PASSWORD_REFUSED}: the admin password is not accepted"):
        run("--no-demo")
    assert not User.objects.exists()


def test_email_of_ordinary_user_is_not_promoted(user, monkeypatch):
    monkeypatch.setenv("KGSITE_ADMIN_EMAIL", user.email.upper())
    with pytest.raises(CommandError, match=f"^{EMAIL_TAKEN}: .* already exists but is not an active superuser"):
        run("--no-demo")
    user.refresh_from_db()
    assert not user.is_superuser


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "--workers must be a whole number from 1 to 64"),
        (["--workers", "-3"], "--workers must be a whole number from 1 to 64"),
        (["--workers", "65"], "--workers must be a whole number from 1 to 64"),
        (["--workers", "two"], "--workers must be a whole number"),
        (["--workers", "\u0663"], "--workers must be a whole number"),  # ٣: int() would take it
        (["--workers", "9" * 5000], "--workers must be a whole number"),
        (["--bind", "localhost"], "--bind must be HOST:PORT"),
        (["--bind", "127.0.0.1:99999"], "--bind must be HOST:PORT"),
        (["--bind", "127.0.0.1:"], "--bind must be HOST:PORT"),
        (["--bind", "127.0.0.1:8000\n"], "--bind must be HOST:PORT"),
        (["--bind", "127.0.0.1:\u0663"], "--bind must be HOST:PORT"),
        (["--bind", "http://127.0.0.1:8000"], "--bind must be HOST:PORT"),
    ],
)
def test_bad_arguments(args, message):
    with pytest.raises(CommandError, match=f"^{BAD_OPTION_VALUE}: {message}") as excinfo:
        run(*args)
    assert "\n" not in str(excinfo.value)
    assert not User.objects.exists()


def test_admin_account_ensure_directly():
    user, password, created = admin_account_ensure()
    assert created and password and user.check_password(password)
    again, password_again, created_again = admin_account_ensure(email="other@example.com", password="x")
    assert (again, password_again, created_again) == (user, None, False)
    User.objects.all().update(is_active=False)  # an inactive superuser does not count
    with pytest.raises(AccountError, match="not a valid email") as excinfo:
        admin_account_ensure(email="not-an-email")
    assert excinfo.value.code == INVALID_EMAIL


def test_demo_loader_refusal_is_reported_and_a_bug_is_not_disguised(monkeypatch):
    from graph.errors import UNREADABLE_FILE, GraphError

    def refuse(**_):
        raise GraphError("demo graph: cannot read it", code=UNREADABLE_FILE)

    monkeypatch.setattr("graph.management.commands.quickstart.demo_graph_load", refuse)
    with pytest.raises(CommandError, match=f"^{UNREADABLE_FILE}: demo graph: cannot read it$"):
        run()

    def bug(**_):
        raise ValueError("a programming error")

    monkeypatch.setattr("graph.management.commands.quickstart.demo_graph_load", bug)
    with pytest.raises(ValueError, match="a programming error"):  # not turned into a tidy CommandError
        run()


def test_supervise_stops_the_other_process_when_one_ends(tmp_path):
    """quickstart serves gunicorn and run_worker side by side: when one ends, the other gets SIGTERM."""
    import sys
    import time

    from graph.management.commands.quickstart import supervise

    marker = tmp_path / "terminated"
    waiter = ("import signal, sys, time, pathlib\n"
              f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).write_text('yes'), "
              "sys.exit(0)))\n"
              "time.sleep(60)\n")
    started = time.monotonic()
    ends = "import sys, time; time.sleep(1.5); sys.exit(3)"  # the other has its SIGTERM handler by then
    status = supervise([[sys.executable, "-c", ends], [sys.executable, "-c", waiter]],
                       cwd=tmp_path, env=None, grace_seconds=10)
    assert status == 3
    assert marker.read_text() == "yes"  # stopped by SIGTERM, cleanly
    assert time.monotonic() - started < 10


def test_quickstart_offers_to_leave_the_worker_out():
    from graph.management.commands.quickstart import Command

    assert "--no-worker" in Command().create_parser("manage.py", "quickstart").format_help()
