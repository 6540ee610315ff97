"""Text to image through the real server: sampler, latents, VAE, interop, cancel."""

import numpy as np
from devtools.graphs import pixels, png, t2i


def test_text_to_image_png_and_seeds(comfy, tiny):
    first = png(comfy, comfy.run(t2i(seed=11)))
    assert first.size == (128, 96)
    assert pixels(first).std() > 1.0  # not a constant image
    # Rerun everything from the encoder on (an input that cannot change the result
    # defeats ComfyUI's cache): same seed, same pixels.
    graph = t2i(seed=11)
    graph["enc"]["inputs"]["max_tokens"] = 511
    again = png(comfy, comfy.run(graph))
    assert np.array_equal(pixels(again), pixels(first))
    other = png(comfy, comfy.run(t2i(seed=12)))
    assert np.abs(pixels(other) - pixels(first)).mean() > 1.0


def test_core_latent_nodes_plug_in(comfy, tiny):
    """EmptySD3LatentImage feeds the sampler; LatentUpscale + denoise < 1 is a hires fix."""
    graph = t2i(seed=3, latent=["core_lat", 0])
    graph["core_lat"] = {"class_type": "EmptySD3LatentImage",
                         "inputs": {"width": 64, "height": 64, "batch_size": 2}}
    graph["up"] = {"class_type": "LatentUpscale", "inputs": {
        "samples": ["s", 0], "upscale_method": "bislerp", "width": 128, "height": 128,
        "crop": "disabled"}}
    graph["s2"] = {"class_type": "NewBieSampler", "inputs": {
        **graph["s"]["inputs"], "latent_image": ["up", 0], "denoise": 0.5}}
    graph["d"]["inputs"]["samples"] = ["s2", 0]
    result = comfy.run(graph)
    images = result.outputs["save"]["images"]
    assert len(images) == 2
    assert png(comfy, result).size == (128, 128)


def test_bad_inputs_are_clear(comfy, tiny):
    graph = t2i(width=120)
    result = comfy.run(graph)
    assert "'width' must be a multiple of 16; got 120" in result.refusal()
    graph = t2i(steps=0)
    result = comfy.run(graph)
    assert result.status == "invalid" and "steps" in str(result.error["node_errors"]["s"])
    assert comfy.alive()


def test_interrupt_stops_the_run(comfy, tiny):
    graph = t2i(seed=99, steps=1000, width=256, height=256)
    result, stopping = comfy.run_interrupted(graph, after=3.0)
    assert result.status == "interrupted", result.messages
    assert stopping < 10
    assert comfy.alive()


def test_progress_bar_and_latent_previews(comfy, tiny):
    result, messages, frames = comfy.run_watched(t2i(seed=21, steps=5))
    assert result.status == "success", result.error
    progress = [m["data"] for m in messages if m["type"] == "progress" and m["data"]["node"] == "s"]
    assert [p["value"] for p in progress] == [1, 2, 3, 4, 5] and progress[-1]["max"] == 5
    # Binary frames: event type 1 (preview image) followed by a JPEG.
    previews = [f for f in frames if int.from_bytes(f[:4], "big") == 1]
    assert len(previews) >= 1 and any(b"\xff\xd8" in f[:32] for f in previews)


def test_lora_node_changes_the_image_and_removing_it_restores_the_base(comfy, tiny):
    options = comfy.get_json("/object_info/NewBieLoraLoader")["NewBieLoraLoader"]
    assert "newbie_style_lora/" in options["input"]["required"]["lora_name"][1]["options"]
    base = pixels(png(comfy, comfy.run(t2i(seed=31))))
    graph = t2i(seed=31)
    graph["lora"] = {"class_type": "NewBieLoraLoader", "inputs": {
        "model": ["m", 0], "lora_name": "newbie_style_lora/", "strength": 1.0}}
    graph["s"]["inputs"]["model"] = ["lora", 0]
    with_lora = pixels(png(comfy, comfy.run(graph)))
    assert np.abs(with_lora - base).mean() > 1.0
    # Without the LoRA node again, re-sampled (not cached): exactly the base image.
    graph = t2i(seed=31)
    graph["enc"]["inputs"]["max_tokens"] = 500
    assert np.array_equal(pixels(png(comfy, comfy.run(graph))), base)


def test_models_go_through_comfyuis_model_manager(comfy, tiny):
    """Freshly loaded encoders, transformer and VAE each reach the compute device through
    ComfyUI's load_models_gpu (its log names the ModelPatcher's module), and nothing we
    leave behind makes ComfyUI suspect a leak."""
    graph = t2i(seed=41)
    graph["m"]["inputs"]["dtype"] = "float32"  # new model objects: nothing cached yet
    graph["te"]["inputs"]["dtype"] = "float32"
    graph["v"]["inputs"]["dtype"] = "bfloat16"
    # Text encoders (our CLIP's module), transformer (the MODEL), VAE (core's VAE object:
    # loaded in bfloat16, its float32 copy for the decode).
    kinds = ("NewBieClipModel", "NewBieModel", "AutoencodingEngine")
    before = [comfy.log().count(f"Requested to load {m}") for m in kinds]
    png(comfy, comfy.run(graph))
    after = [comfy.log().count(f"Requested to load {m}") for m in kinds]
    assert all(a - b >= 1 for a, b in zip(after, before, strict=True)), (before, after)
    assert "Potential memory leak" not in comfy.log()


def test_core_noise_mask_inpaints_only_the_masked_half(comfy, tiny):
    """Core SolidMask + MaskComposite + Set Latent Noise Mask in front of a second
    NewBie Sampler (another seed): the right half of the latent stays the first pass's,
    the left half is regenerated."""
    import safetensors.torch
    import torch

    graph = t2i(seed=51)
    graph.update({
        "zero": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 128, "height": 96}},
        "one": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 96}},
        "mask": {"class_type": "MaskComposite", "inputs": {
            "destination": ["zero", 0], "source": ["one", 0], "x": 0, "y": 0, "operation": "add"}},
        "nm": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["s", 0],
                                                              "mask": ["mask", 0]}},
        "s2": {"class_type": "NewBieSampler",
               "inputs": {**graph["s"]["inputs"], "latent_image": ["nm", 0], "seed": 52}},
        "first": {"class_type": "SaveLatent", "inputs": {"samples": ["s", 0],
                                                         "filename_prefix": "inpaint_first"}},
        "second": {"class_type": "SaveLatent", "inputs": {"samples": ["s2", 0],
                                                          "filename_prefix": "inpaint_second"}},
    })
    result = comfy.run(graph)
    assert result.status == "success", result.error
    first, second = (safetensors.torch.load(comfy.view(result.outputs[n]["latents"][0]))
                     ["latent_tensor"] for n in ("first", "second"))
    assert first.shape == second.shape == (1, 16, 12, 16)
    torch.testing.assert_close(second[..., 8:], first[..., 8:], rtol=1e-5, atol=1e-5)
    assert (second[..., :8] - first[..., :8]).abs().mean() > 0.05


def test_empty_latent_says_which_input_set_the_size(comfy):
    def run(resolution, width, height):
        graph = {"lat": {"class_type": "NewBieEmptyLatent", "inputs": {
            "resolution": resolution, "width": width, "height": height, "batch_size": 1}},
            "save": {"class_type": "SaveLatent", "inputs": {
                "samples": ["lat", 0], "filename_prefix": "empty_latent_note"}}}
        result = comfy.run(graph)
        assert result.status == "success", result.error
        return result.outputs["lat"]["text"][0]

    assert run("1024x1024 (1:1)", 512, 768) == ("1024x1024 from resolution; width and height "
                                                "(512x768) apply only when resolution is custom")
    assert run("1024x1024 (1:1)", 1024, 1024) == "1024x1024 from resolution"
    assert run("custom", 512, 768) == "512x768 from width and height (resolution is custom)"
