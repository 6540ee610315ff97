"""LoRA loader node: the transformer with an adapter on top, base model untouched."""
from __future__ import annotations

from comfy_api.latest import io

from ..newbie.lora import apply_lora
from .input_checks import checked_inputs
from .common import CATEGORY, NewBieModel
from .memory import Resident, unload
from .model_files import model_combo, resolve_model


class NewBieLoraLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieLoraLoader",
            display_name="NewBie LoRA Loader",
            category=CATEGORY,
            description="Applies a LoRA from models/loras to the NewBie transformer: a "
                        "NewbieLoraTrainer PEFT adapter (folder or adapter_model.safetensors) or "
                        "a single-file LoRA. Chain several. The incoming model is not changed, "
                        "so removing this node gives the base output back.",
            inputs=[
                NewBieModel.Input("model"),
                model_combo("lora_name", "loras",
                            "A .safetensors LoRA or a PEFT adapter folder (ending /)."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.05,
                               tooltip="Multiplies the LoRA's effect; negative values invert it."),
            ],
            outputs=[NewBieModel.Output(display_name="model")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, model, lora_name: str, strength: float) -> io.NodeOutput:
        if strength == 0.0:
            return io.NodeOutput(model)
        unload(model)  # the clone shares the base's tensors: build it off the card
        lora = apply_lora(model.model, resolve_model("loras", lora_name), strength)
        return io.NodeOutput(Resident(lora, sources=model.sources))


LORA_NODES = [NewBieLoraLoader]
