"""Request ids, JSON logs (kgsite/request_id.py, kgsite/logs.py) and gunicorn's configuration
(kgsite/gunicorn_conf.py)."""

from __future__ import annotations

import importlib
import io
import json
import logging
import logging.config
import re
import sys
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory

from kgsite.logs import JsonFormatter, RequestIdFilter, logging_config, request_id_var
from kgsite.request_id import RequestIdMiddleware, request_id_from

# --- Request ids -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("incoming", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "A" * 64])
def test_a_safe_incoming_request_id_is_kept(incoming):
    assert request_id_from(incoming) == incoming


@pytest.mark.parametrize("incoming", [None, "", "A" * 65, "abc 123", "abc\r\nX-Evil: 1", 'a"b', "ab_c", "ä",
                                      "../etc", "id;drop"])
def test_an_unsafe_incoming_request_id_is_replaced(incoming):
    made = request_id_from(incoming)
    assert made != incoming and re.fullmatch(r"[0-9a-f]{32}", made)


@pytest.mark.django_db
def test_the_request_id_round_trips_through_the_site(client):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="lb-7f3a-0001")
    assert response.status_code == 200 and response["X-Request-ID"] == "lb-7f3a-0001"


@pytest.mark.django_db
def test_an_invalid_request_id_is_not_echoed(client):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    other = client.get("/accounts/login/")  # none given: a new one each time
    assert re.fullmatch(r"[0-9a-f]{32}", other["X-Request-ID"]) and other["X-Request-ID"] != response["X-Request-ID"]


@pytest.mark.django_db
def test_a_redirect_to_the_login_carries_an_id_too(client):
    response = client.get("/", HTTP_X_REQUEST_ID="abc")
    assert response.status_code == 302 and response["X-Request-ID"] == "abc"


@pytest.mark.django_db  # closing the response sends request_finished, which closes old database connections
def test_the_id_is_in_the_context_only_during_the_request():
    seen = {}

    def view(request):
        seen["var"] = request_id_var.get()
        seen["attribute"] = request.request_id
        logging.getLogger("tests.request").warning("inside")
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="req-42"))
    assert seen == {"var": "req-42", "attribute": "req-42"} and response["X-Request-ID"] == "req-42"
    assert request_id_var.get() == "req-42"  # Django logs a 4xx/5xx after the middleware: still this request's
    response.close()  # what the WSGI server does once the body is sent (request_finished)
    assert request_id_var.get() == "-"


@pytest.mark.django_db
def test_djangos_own_log_of_an_error_answer_carries_the_id(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/metrics", HTTP_X_REQUEST_ID="refused-1")
    assert response.status_code == 401
    [record] = [record for record in caplog.records if record.name == "django.request"]
    assert "Unauthorized: /metrics" in record.getMessage()
    assert JsonFormatter().format(record).count('"request_id": "refused-1"') == 1
    assert request_id_var.get() == "-"  # the test client closed the response


# --- Logs ----------------------------------------------------------------------------------------------------------


def _configured_logger(fmt: str):
    stream = io.StringIO()
    config = logging_config(level="INFO", fmt=fmt)
    config["handlers"]["console"]["stream"] = stream
    config["root"] = {"handlers": [], "level": "WARNING"}  # leave pytest's root logger alone
    config["loggers"] = {"kgsite.test.logs": {"handlers": ["console"], "level": "INFO", "propagate": False}}
    logging.config.dictConfig(config)
    return logging.getLogger("kgsite.test.logs"), stream


@pytest.fixture
def restore_logging(settings):
    yield
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.django_db
def test_json_log_lines_carry_the_request_id(restore_logging):
    logger, stream = _configured_logger("json")

    def view(request):
        logger.info("handling %s", request.path)
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            logger.exception("failed")
        return HttpResponse("ok")

    RequestIdMiddleware(view)(RequestFactory().get("/some/path", HTTP_X_REQUEST_ID="trace-1")).close()
    logger.info("outside a request")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    first, second, outside = (json.loads(line) for line in lines)
    assert first["message"] == "handling /some/path" and first["request_id"] == "trace-1"
    assert first["level"] == "INFO" and first["logger"] == "kgsite.test.logs" and first["time"].endswith("+00:00")
    assert second["request_id"] == "trace-1" and "ValueError: boom" in second["exception"]
    assert outside["request_id"] == "-"


def test_text_log_lines_carry_the_request_id(restore_logging):
    logger, stream = _configured_logger("text")
    token = request_id_var.set("abc-9")
    try:
        logger.warning("careful")
    finally:
        request_id_var.reset(token)
    assert re.search(r"WARNING kgsite\.test\.logs \[abc-9\] careful$", stream.getvalue().strip())


def test_the_formatter_and_filter_alone():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "value %d", (5,), None)
    RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "value 5" and entry["request_id"] == "-" and entry["level"] == "ERROR"


def test_the_settings_use_the_builder(settings):
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]
    assert settings.LOGGING["handlers"]["console"]["formatter"] in {"json", "text"}
    with pytest.raises(ImproperlyConfigured, match="KGSITE_LOG_FORMAT"):
        logging_config(fmt="xml")


# --- gunicorn's configuration ------------------------------------------------------------------------------------

GUNICORN_VARIABLES = ("KGSITE_BIND", "KGSITE_WORKERS", "KGSITE_THREADS", "KGSITE_TIMEOUT", "KGSITE_GRACEFUL_TIMEOUT",
                      "KGSITE_KEEPALIVE", "KGSITE_MAX_REQUESTS", "KGSITE_MAX_REQUESTS_JITTER")


def _load_conf(monkeypatch, **env):
    for name in GUNICORN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("kgsite.gunicorn_conf", None)
    return importlib.import_module("kgsite.gunicorn_conf")


def test_gunicorn_defaults_come_from_the_cpu_count(monkeypatch):
    conf = _load_conf(monkeypatch)
    cpus = conf.cpu_count()
    assert cpus >= 1 and conf.workers == min(2 * cpus + 1, 12)
    assert conf.threads == 2 and conf.worker_class == "gthread"
    assert conf.bind == ["127.0.0.1:8000"] and conf.wsgi_app == "kgsite.wsgi:application"
    assert conf.timeout == 60 and conf.graceful_timeout == 30 and conf.keepalive == 5
    assert conf.max_requests == 1000 and conf.max_requests_jitter == 100
    assert conf.accesslog == "-" and conf.errorlog == "-"
    assert conf.default_workers(1) == 3 and conf.default_workers(64) == 12


def test_gunicorn_environment_overrides(monkeypatch):
    conf = _load_conf(monkeypatch, KGSITE_BIND="0.0.0.0:9000, unix:/run/kgsite.sock", KGSITE_WORKERS="7",
                      KGSITE_THREADS="1", KGSITE_TIMEOUT="120", KGSITE_MAX_REQUESTS="0")
    assert conf.bind == ["0.0.0.0:9000", "unix:/run/kgsite.sock"]
    assert conf.workers == 7 and conf.threads == 1 and conf.worker_class == "sync"
    assert conf.timeout == 120 and conf.max_requests == 0


@pytest.mark.parametrize("value", ["0", "-1", "two", "\u0663", "99999"])
def test_gunicorn_refuses_a_bad_worker_count(monkeypatch, value):
    with pytest.raises(ValueError, match="KGSITE_WORKERS must be a whole number"):
        _load_conf(monkeypatch, KGSITE_WORKERS=value)


def test_gunicorn_loads_the_file_and_its_command_line_wins(monkeypatch):
    from gunicorn.app.wsgiapp import WSGIApplication

    from graph.management.commands.quickstart import GUNICORN_CONFIG, gunicorn_argv

    _load_conf(monkeypatch, KGSITE_WORKERS="5")
    argv = gunicorn_argv("127.0.0.1:8765", 3)
    assert argv[argv.index("--config") + 1] == str(GUNICORN_CONFIG)
    monkeypatch.setattr(sys, "argv", ["gunicorn", *argv[3:]])
    app = WSGIApplication()
    assert app.cfg.workers == 3 and app.cfg.bind == ["127.0.0.1:8765"]  # the command line's
    assert app.cfg.threads == 2 and app.cfg.max_requests == 1000 and app.cfg.graceful_timeout == 30  # the file's
    monkeypatch.setattr(sys, "argv", ["gunicorn", *gunicorn_argv("127.0.0.1:8765", None)[3:]])
    assert WSGIApplication().cfg.workers == 5  # no --workers: the file's (KGSITE_WORKERS)


def test_the_access_log_is_one_json_object_per_request(monkeypatch):
    conf = _load_conf(monkeypatch)
    from datetime import timedelta

    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = conf.JsonAccessLogger(cfg)
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(stream)
    resp = SimpleNamespace(status="200 OK", sent=42, headers=[("X-Request-ID", "rid-1")])
    req = SimpleNamespace(headers=[("USER-AGENT", 'agent "quoted"')])
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": '/a"b?x=1', "PATH_INFO": '/a"b', "QUERY_STRING": "x=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1", "HTTP_USER_AGENT": 'agent "quoted"'}
    logger.access(resp, req, environ, timedelta(milliseconds=12.5))
    entry = json.loads(stream.getvalue().strip())
    assert entry["path"] == '/a"b' and entry["status"] == 200 and entry["request_id"] == "rid-1"
    assert entry["bytes"] == 42 and entry["duration_ms"] == 12.5 and entry["user_agent"] == 'agent "quoted"'
