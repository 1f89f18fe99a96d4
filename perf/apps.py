from django.apps import AppConfig


class PerfConfig(AppConfig):
    name = "perf"
