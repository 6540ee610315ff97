"""Model code: the NewBie Next-DiT, the text encoders, the FLUX VAE."""
# The system prompts live in newbie.prompt; importable from here too, as they were.
from ..prompt.system import (DEFAULT_SYSTEM_PROMPT, SYSTEM_PROMPTS, TEXTUAL_SYSTEM_PROMPT,
                             system_prompt_for)
from .text_encoders import NewBieTextEncoders
from .transformer import NewBieTransformer
from .vae import NewBieVAE

__all__ = ["DEFAULT_SYSTEM_PROMPT", "NewBieTextEncoders", "NewBieTransformer", "NewBieVAE",
           "SYSTEM_PROMPTS", "TEXTUAL_SYSTEM_PROMPT", "system_prompt_for"]
