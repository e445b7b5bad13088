"""The embedded PostgreSQL server as a Django database backend (``ENGINE = "kgsite.backends.embedded"``)."""
