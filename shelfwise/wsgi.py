import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shelfwise.settings")

application = get_wsgi_application()

# Django runs no system checks under WSGI: refuse here, at the server's start, to serve a
# prod whose admin pages would all be 500s for want of `collectstatic`.
from shelfwise.checks import refuse_to_serve_without_collected_static  # noqa: E402

refuse_to_serve_without_collected_static()
