"""ComfyUI node classes (V3 schema) only: inputs, outputs, help. They import comfy_api's
schema, `comfy_glue` (the boundary around ComfyUI's internals) and `newbie` (the
library), nothing else."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .encode_nodes import ENCODE_NODES
from .latent_nodes import LATENT_NODES
from .loader_nodes import LOADER_NODES
from .lora_nodes import LORA_NODES
from .prompt_nodes import PROMPT_NODES
from .sampler_nodes import SAMPLER_NODES
from .writer_nodes import WRITER_NODES

__all__ = ["NewBieExtension"]


class NewBieExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [*LOADER_NODES, *LORA_NODES, *PROMPT_NODES, *WRITER_NODES, *ENCODE_NODES, *LATENT_NODES,
                *SAMPLER_NODES]
