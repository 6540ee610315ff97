"""Our MODEL among core's nodes, through the real server: core KSampler, core model
patches, core LoRA loader; and our sampler, guider and LoRA loader on core's NewBie
MODEL (0.33: UNETLoader with a NewBie file)."""
import pytest
import torch
from devtools.graphs import STEPS, base_graph, latents, t2i
from devtools.tiny_lora import lora_pairs, write_single_file


def ksampler(model, seed=5, cfg=4.0) -> dict:
    return {"class_type": "KSampler", "inputs": {
        "model": model, "seed": seed, "steps": STEPS, "cfg": cfg, "sampler_name": "euler",
        "scheduler": "simple", "positive": ["enc", 0], "negative": ["enc", 1],
        "latent_image": ["lat", 0], "denoise": 1.0}}


def close(a, b, tol=1e-4) -> bool:
    return ((a - b).norm() / b.norm()).item() < tol


def test_core_ksampler_on_our_model_equals_newbie_sampler(comfy, tiny):
    graph = base_graph()
    graph["k"] = ksampler(["m", 0])
    ours, core = latents(comfy, graph, "s", "k")
    assert ours.shape == (1, 16, 8, 8) and ours.std() > 0.1
    assert close(core, ours), ((core - ours).norm() / ours.norm()).item()


def defaults(spec: dict) -> dict:
    """Widget defaults of a node's required inputs, from /object_info."""
    out = {}
    for name, entry in spec["input"].get("required", {}).items():
        kind, options = entry[0], entry[1] if len(entry) > 1 else {}
        if isinstance(kind, list):
            out[name] = options.get("default", kind[0])
        elif kind in ("INT", "FLOAT", "BOOLEAN", "STRING") or kind == "COMBO":
            out[name] = options.get("default", options.get("options", [None])[0])
    return out


PATCHES = ["ModelSamplingAuraFlow", "RenormCFG", "CFGNorm", "CFGZeroStar", "APG", "TCFG",
           "EasyCache", "SkipLayerGuidanceDiT", "DifferentialDiffusion", "ModelMergeSimple",
           "TorchCompileModel"]
# Patches that must change the result on this tiny model (the others may be no-ops at
# their defaults, e.g. EasyCache's threshold over 10 steps).
CHANGES = {"ModelSamplingAuraFlow", "CFGZeroStar", "APG", "SkipLayerGuidanceDiT"}


@pytest.mark.parametrize("patch", PATCHES)
def test_core_model_patches_take_our_model(comfy, tiny, patch):
    info = comfy.get_json("/object_info")
    if patch not in info:
        pytest.skip(f"{patch} is not in this ComfyUI")
    inputs = defaults(info[patch])
    for name, entry in info[patch]["input"]["required"].items():
        if entry[0] == "MODEL":
            inputs[name] = ["m", 0]
    if patch == "ModelSamplingAuraFlow":
        inputs["shift"] = 3.0
    if patch == "SkipLayerGuidanceDiT":
        inputs.update(double_layers="1", single_layers="", scale=3.0, start_percent=0.0,
                      end_percent=1.0)
    graph = base_graph()
    graph["p"] = {"class_type": patch, "inputs": inputs}
    graph["k"] = ksampler(["p", 0])
    graph["plain"] = ksampler(["m", 0])
    graph["ns"] = {**graph["s"], "inputs": {**graph["s"]["inputs"], "model": ["p", 0]}}
    patched, plain, through_ours = latents(comfy, graph, "k", "plain", "ns")
    assert torch.isfinite(patched).all() and torch.isfinite(through_ours).all()
    if patch in CHANGES:
        assert not close(patched, plain, 1e-3), f"{patch} changed nothing"


def test_renorm_cfg_agrees_with_our_guider(comfy, tiny):
    """Core's RenormCFG at its always-on truncation (100) and renorm 0, under KSampler,
    against NewBie Sampler with CFG at every step. With renorm > 0 they differ by design:
    RenormCFG caps the denoised (x0) prediction and truncates on sigma, the official rule
    caps the velocity and truncates on t = 1 - sigma (docs/comfyui-hosts.md)."""
    graph = base_graph()
    graph["p"] = {"class_type": "RenormCFG", "inputs": {"model": ["m", 0], "cfg_trunc": 100.0,
                                                        "renorm_cfg": 0.0}}
    graph["k"] = ksampler(["p", 0])
    graph["capped"] = {**graph["s"], "inputs": {**graph["s"]["inputs"], "renorm": 0.6}}
    ours, core, capped = latents(comfy, graph, "s", "k", "capped")
    assert close(core, ours), ((core - ours).norm() / ours.norm()).item()
    assert not close(capped, ours, 1e-3)  # renorm 0.6 did cap something


def test_core_lora_loader_equals_newbie_lora_loader(comfy, tiny):
    write_single_file(comfy.models / "loras" / "newbie_single.safetensors",
                      lora_pairs(std=0.3, seed=4), alpha=4.0)
    graph = base_graph()
    graph["core_lora"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": ["m", 0], "lora_name": "newbie_single.safetensors", "strength_model": 0.8}}
    graph["our_lora"] = {"class_type": "NewBieLoraLoader", "inputs": {
        "model": ["m", 0], "lora_name": "newbie_single.safetensors", "strength": 0.8}}
    graph["k_core"] = ksampler(["core_lora", 0])
    graph["k_ours"] = ksampler(["our_lora", 0])
    graph["plain"] = ksampler(["m", 0])
    core, ours, plain = latents(comfy, graph, "k_core", "k_ours", "plain")
    assert close(core, ours, 1e-6) and not close(ours, plain, 1e-3)


def test_core_lora_loader_on_model_and_clip_feeds_our_nodes(comfy, tiny):
    """Core LoraLoader, the usual LoRA node, patches MODEL and CLIP and clones both. A
    transformer-only LoRA leaves the text encoders as they were: NewBie Text Encode takes
    the cloned CLIP, and NewBie Sampler gives the latent LoraLoaderModelOnly gives."""
    write_single_file(comfy.models / "loras" / "newbie_both.safetensors",
                      lora_pairs(std=0.3, seed=5), alpha=4.0)
    graph = base_graph(seed=6)
    graph["both"] = {"class_type": "LoraLoader", "inputs": {
        "model": ["m", 0], "clip": ["te", 0], "lora_name": "newbie_both.safetensors",
        "strength_model": 0.8, "strength_clip": 1.0}}
    graph["model_only"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": ["m", 0], "lora_name": "newbie_both.safetensors", "strength_model": 0.8}}
    graph["enc_both"] = {**graph["enc"], "inputs": {**graph["enc"]["inputs"],
                                                    "text_encoders": ["both", 1]}}
    sampler = graph["s"]["inputs"]
    graph["s_both"] = {"class_type": "NewBieSampler", "inputs": {
        **sampler, "model": ["both", 0], "positive": ["enc_both", 0],
        "negative": ["enc_both", 1]}}
    graph["s_model_only"] = {"class_type": "NewBieSampler", "inputs": {
        **sampler, "model": ["model_only", 0]}}
    both, model_only, plain = latents(comfy, graph, "s_both", "s_model_only", "s")
    assert torch.equal(both, model_only) and not close(both, plain, 1e-3)


def test_object_info_shows_the_standard_types(comfy):
    info = comfy.get_json("/object_info")
    assert info["NewBieModelLoader"]["output"] == ["MODEL"]
    for node in ("NewBieSampler", "NewBieLoraLoader", "NewBieCFGGuider"):
        assert info[node]["input"]["required"]["model"][0] == "MODEL", node
    assert info["NewBieCFGGuider"]["output"] == ["GUIDER"]
    assert info["NewBieSamplerSelect"]["output"] == ["SAMPLER"]


def test_core_multi_device_nodes_take_our_models(comfy, tiny):
    """Select Model / CLIP / VAE Device and MultiGPU CFG Split (0.33) in front of our
    nodes give the same image as without them. One CPU here: the nodes route to it,
    clone (our CLIP survives the clone) and find no second device to split onto."""
    from devtools.graphs import pixels, png

    nodes = ("SelectModelDevice", "SelectCLIPDevice", "SelectVAEDevice", "MultiGPU_WorkUnits")
    info = comfy.get_json("/object_info")
    if not all(node in info for node in nodes):
        pytest.skip("this ComfyUI has no multi-device nodes")
    plain = t2i(seed=41)
    routed = t2i(seed=41)
    routed["md"] = {"class_type": "SelectModelDevice", "inputs": {"model": ["m", 0],
                                                                  "device": "cpu"}}
    routed["split"] = {"class_type": "MultiGPU_WorkUnits", "inputs": {"model": ["md", 0],
                                                                      "max_gpus": 2}}
    routed["cd"] = {"class_type": "SelectCLIPDevice", "inputs": {"clip": ["te", 0],
                                                                 "device": "cpu"}}
    routed["vd"] = {"class_type": "SelectVAEDevice", "inputs": {"vae": ["v", 0],
                                                                "device": "default"}}
    routed["s"]["inputs"]["model"] = ["split", 0]
    routed["enc"]["inputs"]["text_encoders"] = ["cd", 0]
    routed["d"]["inputs"]["vae"] = ["vd", 0]
    routed["save"]["inputs"]["filename_prefix"] = "routed"
    assert (pixels(png(comfy, comfy.run(routed))) == pixels(png(comfy, comfy.run(plain)))).all()


def test_core_train_lora_runs_on_our_model(comfy, tiny):
    """Core Train LoRA trains on our MODEL (0.33 deep-copies it first, through our reload
    factory); the trained LoRA changes what NewBie Sampler makes."""
    info = comfy.get_json("/object_info")
    if "TrainLoraNode" not in info:
        pytest.skip("this ComfyUI has no LoRA training")
    graph = base_graph(seed=8)
    settings = {"steps": 2, "learning_rate": 0.05, "rank": 2, "training_dtype": "fp32",
                "lora_dtype": "fp32", "gradient_checkpointing": False,
                "existing_lora": "[None]"}
    inputs = defaults(info["TrainLoraNode"])  # the host's own input list, its defaults
    inputs.update({k: v for k, v in settings.items() if k in inputs},
                  model=["m", 0], latents=["lat", 0], positive=["enc", 0])
    graph["train"] = {"class_type": "TrainLoraNode", "inputs": inputs}
    if info["TrainLoraNode"]["output"][0] == "MODEL":
        pytest.skip("0.3.75's early Train LoRA fails on its own latents input ('multi_res' "
                    "unset) for every model, before it reaches one")
    graph["apply"] = {"class_type": "LoraModelLoader", "inputs": {
        **defaults(info["LoraModelLoader"]), "model": ["m", 0], "lora": ["train", 0]}}
    graph["s_trained"] = {"class_type": "NewBieSampler", "inputs": {
        **graph["s"]["inputs"], "model": ["apply", 0]}}
    trained, plain = latents(comfy, graph, "s_trained", "s")
    assert torch.isfinite(trained).all() and not close(trained, plain, 1e-4)


def test_a_lora_hook_on_our_clip_reaches_the_sampler(comfy, tiny):
    """Core's hook nodes on our CLIP: Set CLIP Hooks (apply to conds) with a LoRA hook
    keeps it a NewBie CLIP, NewBie Text Encode's conditioning carries the hook, and NewBie
    Sampler applies it: the latent LoraLoaderModelOnly gives at the same strength."""
    write_single_file(comfy.models / "loras" / "newbie_hook.safetensors",
                      lora_pairs(std=0.3, seed=6), alpha=4.0)
    graph = base_graph(seed=9)
    graph["hook"] = {"class_type": "CreateHookLora", "inputs": {
        "lora_name": "newbie_hook.safetensors", "strength_model": 0.8, "strength_clip": 1.0}}
    graph["hooked"] = {"class_type": "SetClipHooks", "inputs": {
        "clip": ["te", 0], "apply_to_conds": True, "schedule_clip": False,
        "hooks": ["hook", 0]}}
    graph["enc_hooked"] = {**graph["enc"], "inputs": {**graph["enc"]["inputs"],
                                                      "text_encoders": ["hooked", 0]}}
    graph["model_only"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": ["m", 0], "lora_name": "newbie_hook.safetensors", "strength_model": 0.8}}
    sampler = graph["s"]["inputs"]
    graph["s_hooked"] = {"class_type": "NewBieSampler", "inputs": {
        **sampler, "positive": ["enc_hooked", 0], "negative": ["enc_hooked", 1]}}
    graph["s_model_only"] = {"class_type": "NewBieSampler", "inputs": {
        **sampler, "model": ["model_only", 0]}}
    hooked, model_only, plain = latents(comfy, graph, "s_hooked", "s_model_only", "s")
    assert close(hooked, model_only, 1e-5) and not close(hooked, plain, 1e-3)
