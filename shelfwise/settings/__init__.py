"""ShelfWise settings, one module per concern; the environment is read in env.py alone.

SHELFWISE_ENV selects a profile: ``dev`` (default), ``staging`` or ``prod``.
DATABASE_URL unset means the embedded PostgreSQL server under ``.pgdata/``.
The order below is the order of the startup checks: a prod without SECRET_KEY says so
before it says anything of its database.
"""

# isort: off
from shelfwise.settings.env import *  # noqa: F403
from shelfwise.settings.security import *  # noqa: F403
from shelfwise.settings.database import *  # noqa: F403
from shelfwise.settings.observability import *  # noqa: F403
from shelfwise.settings.base import *  # noqa: F403
# isort: on
