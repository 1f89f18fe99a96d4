"""What the locust side (``recorder``) and the Django side share: names only.

Kept apart so that the Django side never imports locust: importing locust monkey-patches
the standard library for gevent, which breaks Django's thread-bound connections.
"""

SAMPLES_ENV = "LOADTEST_SAMPLES"  # where the recorder writes the raw samples
PROGRESS_ENV = "LOADTEST_PROGRESS"  # seconds between progress lines; unset: none
QUERY_HEADER = "X-Query-Count"
SAMPLES_VERSION = 1
