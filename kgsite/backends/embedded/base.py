"""Django's PostgreSQL backend, with the embedded server started on the first connection.

``kgsite.settings`` chooses this engine when ``DATABASE_URL`` is unset (and never in production). Importing the
settings therefore starts nothing: ``collectstatic``, ``check`` or ``--help`` run without a database, and the
server is started (or reused: a ~50 µs check of ``postmaster.pid`` once it runs) only when Django actually
connects. The settings dictionary carries the data directory and the application database under ``EMBEDDED``.
"""

from __future__ import annotations

from django.db.backends.postgresql import base as postgresql

from kgsite.embedded_pg import ensure_server


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_connection_params(self):
        embedded = self.settings_dict["EMBEDDED"]
        info = ensure_server(embedded["DATA_DIR"], database=embedded["DATABASE"])
        params = super().get_connection_params()
        params.update(host=str(info.socket_dir), port=info.port)
        return params
