"""Finding, converting and loading checkpoints in every layout people have."""
from .dtype import DTYPE_CHOICES, resolve_dtype
from .errors import CheckpointError
from .transformer import load_transformer

__all__ = ["CheckpointError", "DTYPE_CHOICES", "load_transformer", "resolve_dtype"]
