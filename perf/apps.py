from django.apps import AppConfig
from django.db.backends.signals import connection_created


class PerfConfig(AppConfig):
    name = "perf"

    def ready(self) -> None:
        from perf.recording import install

        # Every connection, in every thread, carries the recording wrapper.
        connection_created.connect(install, dispatch_uid="perf.recording.install")
