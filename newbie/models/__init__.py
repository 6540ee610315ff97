"""Model code: the NewBie Next-DiT, the text encoders, the FLUX VAE."""
from .transformer import NewBieTransformer

__all__ = ["NewBieTransformer"]
