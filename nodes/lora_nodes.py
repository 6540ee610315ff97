"""LoRA loader node: the NewBie MODEL with an adapter patched on, as core LoRA loaders
do (the base MODEL is untouched; ComfyUI applies the patch when it loads the model)."""
from __future__ import annotations

from comfy_api.latest import io

from ..comfy_glue import lora, model_files
from ..comfy_glue.sampling import newbie_diffusion_model
from .common import LOADERS, ModelFileCombo, check_model_choices
from .input_checks import checked_inputs


class NewBieLoraLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieLoraLoader",
            display_name="NewBie LoRA Loader",
            category=LOADERS,
            description="Applies a LoRA from models/loras to any NewBie MODEL (ours or core's): "
                        "a NewbieLoraTrainer PEFT adapter (folder or adapter_model.safetensors) "
                        "or a single-file LoRA. Chain several. The incoming model is not "
                        "changed, so removing this node gives the base output back.",
            inputs=[
                io.Model.Input("model"),
                ModelFileCombo("lora_name", "loras",
                               "A .safetensors LoRA or a PEFT adapter folder (ending /)."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.05,
                               tooltip="Multiplies the LoRA's effect; negative values invert it."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, lora_name: str):
        return check_model_choices(cls, lora_name=lora_name)

    @classmethod
    @checked_inputs
    def execute(cls, model, lora_name: str, strength: float) -> io.NodeOutput:
        diffusion = newbie_diffusion_model(model, "NewBie LoRA Loader")
        if strength == 0.0:
            return io.NodeOutput(model)
        path = model_files.resolve_model("loras", lora_name)
        return io.NodeOutput(lora.with_lora(model, diffusion, path, strength))


LORA_NODES = [NewBieLoraLoader]
