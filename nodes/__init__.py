"""ComfyUI node classes (V3 schema). Thin: validate, call `newbie`, convert types."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .encode_nodes import ENCODE_NODES
from .latent_nodes import LATENT_NODES
from .loader_nodes import LOADER_NODES
from .lora_nodes import LORA_NODES
from .prompt_nodes import PROMPT_NODES
from .sampler_nodes import SAMPLER_NODES


from .routes import register_routes
from .errors import show_errors_by_name

show_errors_by_name()

__all__ = ["NewBieExtension", "register_routes"]


class NewBieExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [*LOADER_NODES, *LORA_NODES, *PROMPT_NODES, *ENCODE_NODES, *LATENT_NODES,
                *SAMPLER_NODES]
