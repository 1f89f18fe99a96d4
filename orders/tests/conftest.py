from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

from tenants.tests.api_client import anonymous, member, operator, other_member  # noqa: F401


class _WideBacklogServer(ThreadedWSGIServer):
    # Django's test server listens with a backlog of 10; the concurrency tests open 30
    # connections at once, and an overflowing accept queue resets some of them.
    request_queue_size = 128


# Set at collection, before pytest-django's (session-wide) live_server starts a thread.
LiveServerThread.server_class = _WideBacklogServer
