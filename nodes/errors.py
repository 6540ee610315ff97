"""How the pack's own errors are named where ComfyUI shows them."""
from __future__ import annotations


def show_errors_by_name() -> None:
    """ComfyUI shows a failed node's error type as module + class name, which for this
    pack's errors is its install path (custom_nodes.<folder>.newbie.loading.errors.
    CheckpointError). Python and ComfyUI show builtins by class name alone, so the
    pack's error classes are presented as such."""
    from ..newbie.loading.errors import CheckpointError
    from ..newbie.models.state_dict import StateDictMismatch
    from ..newbie.models.tokenizers import TokenizerError
    from ..newbie.models.transformer_config import ConfigInferenceError
    from ..newbie.prompt import PromptError
    from ..newbie.sampling import NonFiniteError
    from .input_checks import InputError

    for error in (CheckpointError, ConfigInferenceError, InputError, NonFiniteError,
                  PromptError, StateDictMismatch, TokenizerError):
        error.__module__ = "builtins"
