"""Model code: the NewBie Next-DiT, the text encoders, the FLUX VAE."""
from .text_encoders import (DEFAULT_SYSTEM_PROMPT, SYSTEM_PROMPTS, TEXTUAL_SYSTEM_PROMPT,
                            NewBieTextEncoders, system_prompt_for)
from .transformer import NewBieTransformer
from .vae import NewBieVAE

__all__ = ["DEFAULT_SYSTEM_PROMPT", "NewBieTextEncoders", "NewBieTransformer", "NewBieVAE",
           "SYSTEM_PROMPTS", "TEXTUAL_SYSTEM_PROMPT", "system_prompt_for"]
