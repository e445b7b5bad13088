"""Read-only queries that pages need (the "selectors"): views call these instead of building querysets inline."""
