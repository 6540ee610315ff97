"""Our models in ComfyUI's output cache: recognised as models, evicted like core's, and
their memory given back at once when the cache lets go of them.

0.33 caches node outputs by RAM pressure and evicts old model outputs (a ModelPatcher,
or an object whose `.patcher` is one) first; 0.3.75's classic cache drops what the
current prompt does not use. Either way nothing of ours may keep the weights alive."""
import gc
import math
import weakref

import psutil
import pytest
import torch
from devtools.comfy_host import ComfyServer, host_version
from devtools.graphs import t2i, write_t2i_models
from devtools.tiny_models import TINY, official_dit_shapes, random_tensors, write_safetensors

MiB = 1 << 20
# Wide enough that its float32 copy (about 500 MiB) stands far above the server's noise;
# caption and pooled widths stay the tiny encoders' so the t2i graph runs on it.
WIDE = dict(TINY, dim=1536, n_heads=16, n_kv=8, head_dim=96, ffn=4096)


def our_outputs(pack, tmp_path):
    """What Load NewBie Model and Load NewBie Text Encoders output: a MODEL and a CLIP."""
    from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

    from newbie.loading import load_text_encoders

    model = pack.comfy_glue.model.load_model(
        write_safetensors(tmp_path / "dit.safetensors",
                          random_tensors(official_dit_shapes(), seed=1)), torch.float32)
    encoders = load_text_encoders(write_gemma_comfy(tmp_path / "g.safetensors"),
                                  write_jina_comfy(tmp_path / "j.safetensors"))
    return {"MODEL": model, "CLIP": pack.comfy_glue.clip.newbie_clip(encoders, {}, on_cpu=False)}


@pytest.mark.parametrize("kind", ["MODEL", "CLIP"])
def test_a_dropped_model_frees_its_weights_without_a_gc_pass(pack, tmp_path, kind):
    """No reference cycle: with the collector off, dropping the loader's output (what the
    cache does on eviction) frees the weights, even after the model manager loaded it."""
    import comfy.model_management as mm

    output = our_outputs(pack, tmp_path)[kind]
    patcher = output if kind == "MODEL" else output.patcher
    weight = weakref.ref(next(patcher.model.parameters()))
    patcher_ref = weakref.ref(patcher)
    gc.collect()
    gc.disable()
    try:
        mm.load_models_gpu([patcher])
        assert any(m.model is patcher for m in mm.current_loaded_models)
        del output, patcher
        assert weight() is None and patcher_ref() is None
    finally:
        gc.enable()
        mm.cleanup_models_gc()


def test_the_output_cache_recognises_our_models_as_models(pack, tmp_path):
    """0.33's RAM-pressure cache ranks an old output as a model (first to evict) by
    `is_model_patcher_output`; 0.3.75 has no such ranking."""
    import comfy.model_patcher

    if not hasattr(comfy.model_patcher, "is_model_patcher_output"):
        pytest.skip(f"ComfyUI {host_version()} ranks cached outputs without model detection")
    for output in our_outputs(pack, tmp_path).values():
        assert comfy.model_patcher.is_model_patcher_output(output)


@pytest.fixture(scope="module")
def evicting_server(host, tmp_path_factory):
    """A server whose cache lets go of every output an older prompt made: 0.33 with an
    inactive-RAM headroom larger than the machine (so RAM pressure always evicts), 0.3.75
    with its classic cache (outputs the current prompt does not use are dropped)."""
    args = [] if host == "0.3.75" else ["--cache-ram", "2", "100000"]
    server = ComfyServer(tmp_path_factory.mktemp("evict"), extra_args=args).start()
    write_t2i_models(server)
    write_safetensors(server.models / "diffusion_models" / "newbie_wide.safetensors",
                      random_tensors(official_dit_shapes(WIDE), dtype=torch.bfloat16))
    try:
        yield server
    finally:
        server.stop()


def rss(server) -> int:
    return psutil.Process(server.proc.pid).memory_info().rss


def test_evicted_model_memory_comes_back(evicting_server):
    server = evicting_server
    model_bytes = 4 * sum(math.prod(shape) for shape in official_dit_shapes(WIDE).values())
    unrelated = {"i": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
                 "show": {"class_type": "PreviewAny", "inputs": {"source": ["i", 0]}}}
    # The same graph on the tiny model first: one-time allocations (kernels, encoders,
    # VAE) happen before the baseline, so what follows is the wide model's alone.
    warm = t2i(seed=10, steps=2, width=64, height=64, dtype="float32")
    assert server.run(warm).status == "success"
    assert server.run(unrelated).status == "success"
    before = rss(server)

    graph = t2i(seed=11, steps=2, width=64, height=64, dtype="float32")
    # bf16 file loaded in float32: a real copy in the server's memory, not a file mapping.
    graph["m"]["inputs"].update(model="newbie_wide.safetensors", dtype="float32")
    assert server.run(graph).status == "success"
    loaded = rss(server)

    unrelated["i"]["inputs"]["value"] = 4  # a new prompt that uses none of those outputs
    assert server.run(unrelated).status == "success"
    after = rss(server)

    print(f"server RSS: {before / MiB:.0f} MiB before, {loaded / MiB:.0f} MiB with the "
          f"{model_bytes / MiB:.0f} MiB model, {after / MiB:.0f} MiB after eviction")
    assert loaded - before > 0.8 * model_bytes  # the float32 weights are in memory
    assert loaded - after > 0.8 * model_bytes, "the evicted model's weights stayed in memory"
    assert "memory leak" not in server.log()
