"""LoRA loader node: the NewBie MODEL with an adapter patched on, as core LoRA loaders
do (the base MODEL is untouched; ComfyUI applies the patch when it loads the model)."""
from __future__ import annotations

from comfy_api.latest import io

from ..newbie.lora import read_lora
from .comfy_sampling import newbie_diffusion_model
from .common import CATEGORY
from .input_checks import checked_inputs
from .model_files import model_combo, resolve_model


def lora_patches(diffusion, path) -> dict:
    """ComfyUI weight patches for every adapter of the file that fits the model (names
    resolved by the library: PEFT, single-file, kohya and diffusers-port layouts)."""
    from comfy.weight_adapter import LoRAAdapter

    patches = {}
    for module, delta in read_lora(diffusion, path).items():
        rank = delta.down.shape[0]
        # ComfyUI's LoRA scale is alpha / rank.
        patches[f"diffusion_model.{module}.weight"] = LoRAAdapter(
            set(), (delta.up, delta.down, delta.scale * rank, None, None, None))
    return patches


class NewBieLoraLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieLoraLoader",
            display_name="NewBie LoRA Loader",
            category=CATEGORY,
            description="Applies a LoRA from models/loras to any NewBie MODEL (ours or core's): "
                        "a NewbieLoraTrainer PEFT adapter (folder or adapter_model.safetensors) "
                        "or a single-file LoRA. Chain several. The incoming model is not "
                        "changed, so removing this node gives the base output back.",
            inputs=[
                io.Model.Input("model"),
                model_combo("lora_name", "loras",
                            "A .safetensors LoRA or a PEFT adapter folder (ending /)."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.05,
                               tooltip="Multiplies the LoRA's effect; negative values invert it."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, model, lora_name: str, strength: float) -> io.NodeOutput:
        diffusion = newbie_diffusion_model(model, "NewBie LoRA Loader")
        if strength == 0.0:
            return io.NodeOutput(model)
        patched = model.clone()
        patched.add_patches(lora_patches(diffusion, resolve_model("loras", lora_name)), strength)
        return io.NodeOutput(patched)


LORA_NODES = [NewBieLoraLoader]
