"""Latent and VAE nodes: NewBie Empty Latent, NewBie VAE Decode / Encode."""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..comfy_glue import vae as flux_vae
from ..newbie.sizes import SIZE_MULTIPLE, aspect_buckets, check_size
from .common import LATENT
from .input_checks import check_inputs, checked_inputs

log = logging.getLogger(__name__)
CUSTOM = "custom"
VAE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _label(width: int, height: int) -> str:
    ratio = max(width, height) / min(width, height)
    shape = "1:1" if width == height else (f"{ratio:.2f}:1" if width > height else f"1:{ratio:.2f}")
    return f"{width}x{height} ({shape})"


BUCKETS = {_label(w, h): (w, h) for w, h in sorted(aspect_buckets(), key=lambda s: s[0] / s[1])}
DEFAULT_BUCKET = _label(1024, 1024)


class NewBieEmptyLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieEmptyLatent",
            display_name="NewBie Empty Latent",
            category=LATENT,
            description="An empty 16-channel FLUX latent at one of NewBie's official aspect "
                        "buckets (about 1024² pixels, sides multiples of 64, aspect up to 4), or "
                        "a custom size (multiples of 16).",
            inputs=[
                io.Combo.Input("resolution", options=[*BUCKETS, CUSTOM], default=DEFAULT_BUCKET,
                               tooltip="width x height (aspect). It wins over width and height, "
                                       "unless it is 'custom': then those two set the size."),
                io.Int.Input("width", default=1024, min=SIZE_MULTIPLE, max=8192,
                             step=SIZE_MULTIPLE, tooltip="Used only when resolution is custom."),
                io.Int.Input("height", default=1024, min=SIZE_MULTIPLE, max=8192,
                             step=SIZE_MULTIPLE, tooltip="Used only when resolution is custom."),
                io.Int.Input("batch_size", default=1, min=1, max=64),
            ],
            outputs=[io.Latent.Output(display_name="LATENT")],
        )

    # No validate_inputs: ComfyUI would then skip its own checks of the inputs it names.
    @classmethod
    def execute(cls, resolution: str, width: int, height: int, batch_size: int) -> io.NodeOutput:
        # width and height matter only for a custom size: an odd unused value is no error.
        used = {"width": width, "height": height} if resolution == CUSTOM else {}
        check_inputs(cls, {"resolution": resolution, "batch_size": batch_size, **used})
        note = f"{width}x{height} from width and height (resolution is custom)"
        if resolution != CUSTOM:
            unused = (width, height)
            width, height = BUCKETS[resolution]
            note = f"{width}x{height} from resolution"
            if unused != (width, height):
                note += (f"; width and height ({unused[0]}x{unused[1]}) apply only when "
                         "resolution is custom")
        check_size(width, height)
        samples = torch.zeros(batch_size, 16, height // 8, width // 8)
        return io.NodeOutput({"samples": samples}, ui={"text": [note]})


def vae_input():
    return io.Vae.Input("vae", tooltip="The FLUX VAE: Load NewBie VAE, or core's VAELoader "
                                       "with ae.safetensors.")


class NewBieVAEDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieVAEDecode",
            display_name="NewBie VAE Decode",
            category=LATENT,
            description="Decodes a FLUX latent to an image, in float32 by default as NewBie "
                        "does; optional tiling for large images.",
            inputs=[
                vae_input(),
                io.Latent.Input("samples"),
                io.Combo.Input("dtype", options=list(VAE_DTYPES), default="float32",
                               tooltip="float32 avoids banding and fp16 overflow."),
                io.Int.Input("tile_size", default=0, min=0, max=8192, step=64,
                             tooltip="0 = decode in one piece. Otherwise tile side in pixels "
                                     "(seams blended); try 1024 for very large images."),
            ],
            outputs=[io.Image.Output(display_name="IMAGE")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, vae, samples, dtype: str, tile_size: int) -> io.NodeOutput:
        latent = samples["samples"]
        if latent.dim() != 4 or latent.shape[1] != 16:
            raise ValueError(f"samples have shape {list(latent.shape)}; expected a 16-channel "
                             "FLUX latent")
        flux_vae.check_flux_vae(vae, "NewBie VAE Decode")
        return io.NodeOutput(flux_vae.decode(vae, latent, VAE_DTYPES[dtype], tile_size))


class NewBieVAEEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="NewBieVAEEncode",
            display_name="NewBie VAE Encode",
            category=LATENT,
            description="Encodes an image to a FLUX latent for img2img (sides are cropped to "
                        "multiples of 16).",
            inputs=[vae_input(), io.Image.Input("pixels"),
                    io.Combo.Input("dtype", options=list(VAE_DTYPES), default="float32")],
            outputs=[io.Latent.Output(display_name="LATENT")],
        )

    @classmethod
    @checked_inputs
    def execute(cls, vae, pixels, dtype: str) -> io.NodeOutput:
        h, w = pixels.shape[1] // SIZE_MULTIPLE * SIZE_MULTIPLE, \
            pixels.shape[2] // SIZE_MULTIPLE * SIZE_MULTIPLE
        if h == 0 or w == 0:
            raise ValueError(f"image {pixels.shape[2]}x{pixels.shape[1]} is smaller than "
                             f"{SIZE_MULTIPLE} pixels")
        if (h, w) != tuple(pixels.shape[1:3]):
            log.warning("NewBie VAE Encode: cropped %dx%d to %dx%d (multiples of %d)",
                        pixels.shape[2], pixels.shape[1], w, h, SIZE_MULTIPLE)
            top, left = (pixels.shape[1] - h) // 2, (pixels.shape[2] - w) // 2
            pixels = pixels[:, top:top + h, left:left + w]
        flux_vae.check_flux_vae(vae, "NewBie VAE Encode")
        return io.NodeOutput({"samples": flux_vae.encode(vae, pixels, VAE_DTYPES[dtype])})


LATENT_NODES = [NewBieEmptyLatent, NewBieVAEDecode, NewBieVAEEncode]
