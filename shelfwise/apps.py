from django.apps import AppConfig


class ShelfwiseConfig(AppConfig):
    """Registered so that the project-level commands (seed, demo) are found."""

    name = "shelfwise"
