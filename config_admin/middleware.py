"""Sessions end after ``session_idle_minutes`` without a request (docs/roles.md, "Logging in").

Each request of a logged-in user moves the session's expiry to that many minutes ahead, at most once a minute
(so that reading pages does not write the session row on every request); a session idle for longer has expired
and its next request is sent to the login page.
"""

from __future__ import annotations

import time

from config_admin.selectors import config_get

SEEN_KEY = "kgsite_seen_at"
REFRESH_SECONDS = 60


class SessionIdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            seen = request.session.get(SEEN_KEY)
            if not isinstance(seen, int) or now - seen >= REFRESH_SECONDS:
                request.session[SEEN_KEY] = now
                request.session.set_expiry(int(config_get("session_idle_minutes")) * 60)
        return self.get_response(request)
