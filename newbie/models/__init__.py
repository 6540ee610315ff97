"""Model code: the NewBie Next-DiT, the text encoders, the FLUX VAE."""
from .text_encoders import NewBieTextEncoders
from .transformer import NewBieTransformer
from .vae import NewBieVAE

__all__ = ["NewBieTextEncoders", "NewBieTransformer", "NewBieVAE"]
