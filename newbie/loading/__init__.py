"""Finding, converting and loading checkpoints in every layout people have."""
from .dtype import DTYPE_CHOICES, resolve_dtype
from .errors import CheckpointError
from .text_encoders import load_gemma_head, load_gemma_tokenizer, load_text_encoders
from .transformer import load_transformer
from .vae import VAEFile, load_vae, read_vae

__all__ = ["CheckpointError", "DTYPE_CHOICES", "load_gemma_head", "load_gemma_tokenizer",
           "load_text_encoders", "load_transformer", "load_vae", "read_vae", "resolve_dtype", "VAEFile"]
