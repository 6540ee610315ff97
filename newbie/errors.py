"""The base of the library's own errors."""
from __future__ import annotations


class NewBieError(Exception):
    """Hosts that name an error by module and class (ComfyUI shows a failed node's
    error as `custom_nodes.<folder>.newbie.loading.errors.CheckpointError`) show the
    library's errors by class name alone, as they show Python's own."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__module__ = "builtins"
