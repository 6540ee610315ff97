"""Hostile input through the real server, on both hosts: nothing freezes it, nothing
leaves the model folders, and every refusal names the input or the file and says what
was expected. The server must answer /system_stats throughout every case."""
import json
import math
import os
import threading
import time
import urllib.error

import pytest
import torch
from devtools.comfy_host import ComfyServer
from devtools.graphs import t2i, write_t2i_models
from safetensors.torch import load_file
from devtools.tiny_lora import lora_pairs, write_peft, write_single_file
from devtools.tiny_models import official_dit, write_safetensors


@pytest.fixture(scope="module")
def server(host, tmp_path_factory):
    """A server of its own: the hostile files stay out of the other tests' folders."""
    srv = ComfyServer(tmp_path_factory.mktemp("hostile")).start()
    write_t2i_models(srv)
    try:
        yield srv
    finally:
        srv.stop()


def run_alive(server, graph, timeout=300.0):
    """Run `graph` while polling /system_stats; every poll must answer within 5 s."""
    result, stalls = {}, []

    def run():
        result["r"] = server.run(graph, timeout=timeout)

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        started = time.monotonic()
        try:
            server.get_json("/system_stats", timeout=5)
        except (OSError, urllib.error.URLError) as err:
            stalls.append(f"{time.monotonic() - started:.1f}s: {err}")
        time.sleep(0.2)
    worker.join()
    assert stalls == [], f"/system_stats did not answer: {stalls}"
    assert server.alive()
    return result["r"]


def show(node_id, output=0):
    return {"show": {"class_type": "PreviewAny", "inputs": {"source": [node_id, output]}}}


def load_model(name, **inputs):
    return {"m": {"class_type": "NewBieModelLoader", "inputs": {
        "model": name, "dtype": "auto", "attention": "auto", **inputs}}, **show("m")}


def refused(server, graph, *needles):
    """Run `graph` (the server kept alive) and return the refusal, which must contain
    every needle."""
    message = run_alive(server, graph).refusal()
    for needle in needles:
        assert needle in message, message
    return message


# -- files that are not regular files ---------------------------------------------------
def test_a_fifo_as_a_folders_weights_is_refused_by_name(server):
    folder = server.models / "diffusion_models" / "fifo_model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    os.mkfifo(folder / "model.safetensors")
    refused(server, load_model("fifo_model/"), "model.safetensors", "named pipe", "not a regular")


def test_a_fifo_named_by_a_shard_index_is_refused_by_name(server):
    folder = server.models / "diffusion_models" / "fifo_shards"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    write_safetensors(folder / "model-00001-of-00002.safetensors", official_dit())
    os.mkfifo(folder / "model-00002-of-00002.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    refused(server, load_model("fifo_shards/"), "model-00002-of-00002.safetensors", "named pipe")


def test_a_fifo_beside_a_tokenizer_is_refused(server, tmp_path):
    from devtools.tiny_text import write_gemma_hf

    root = write_gemma_hf(server.models / "text_encoders" / "gemma_fifo")
    tokenizer = next(p for p in root.rglob("tokenizer.json"))
    os.mkfifo(tokenizer.parent / "special_tokens_map.json")
    graph = {"te": {"class_type": "NewBieTextEncoderLoader", "inputs": {
        "gemma": "gemma_fifo/", "jina": "jina_t2i.safetensors", "dtype": "auto",
        "device": "default"}}, **show("te")}
    refused(server, graph, "special_tokens_map.json", "named pipe")


# -- shard indexes that point elsewhere --------------------------------------------------
@pytest.mark.parametrize("entry", ["../../outside/x.safetensors", "/etc/passwd",
                                   "/no/such/file.safetensors", "..\\..\\x.safetensors"])
def test_a_shard_index_cannot_leave_its_folder(server, entry):
    outside = server.root / "outside"
    outside.mkdir(exist_ok=True)
    write_safetensors(outside / "x.safetensors", official_dit())  # loads if it is read
    folder = server.models / "diffusion_models" / f"escape_{abs(hash(entry))}"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    write_safetensors(folder / "inside.safetensors", official_dit())
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "inside": "inside.safetensors", "x": entry}}))
    message = refused(server, load_model(folder.name + "/"), "model.safetensors.index.json",
                      "not inside the index's folder")
    # The same answer whether the path exists or not: nothing is revealed.
    assert "missing" not in message and "no such file" not in message


@pytest.mark.parametrize("index, found", [
    ({"metadata": {}}, "no weight_map"), ({"weight_map": ["a.safetensors"]}, "a list"),
    ("{not json", "not a valid JSON shard index"), ({"weight_map": {"a": 7}}, "got 7")])
def test_malformed_shard_indexes_are_named(server, index, found):
    folder = server.models / "diffusion_models" / f"bad_index_{abs(hash(str(index)))}"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    write_safetensors(folder / "model.safetensors", official_dit())
    (folder / "model.safetensors.index.json").write_text(
        index if isinstance(index, str) else json.dumps(index))
    refused(server, load_model(folder.name + "/"), "model.safetensors.index.json", found)


# -- values ComfyUI lets through -----------------------------------------------------------
def latent(**inputs):
    return {"lat": {"class_type": "NewBieEmptyLatent", "inputs": {
        "resolution": "custom", "width": 128, "height": 128, "batch_size": 1, **inputs}},
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["lat", 0]}}}


@pytest.mark.parametrize("inputs, needle", [
    ({"width": 65536}, "width"), ({"width": 10**12}, "width"), ({"height": "abc"}, "height"),
    ({"width": 120}, "width"), ({"resolution": "huge"}, "resolution"),
    ({"batch_size": 0}, "batch_size")])
def test_empty_latent_keeps_its_bounds_types_and_options(server, inputs, needle):
    refused(server, latent(**inputs), needle)


@pytest.mark.parametrize("node, inputs, needle", [
    ("m", {"dtype": "float8"}, "dtype"), ("m", {"attention": "magic"}, "attention"),
    ("te", {"device": "gpu9"}, "device"), ("v", {"dtype": "float64"}, "dtype"),
    ("enc", {"xml_check": "maybe"}, "xml_check"), ("s", {"solver": "heun"}, "solver"),
    ("s", {"dtype": "int8"}, "dtype"), ("d", {"dtype": "fp8"}, "dtype")])
def test_unknown_combo_values_are_refused_on_every_host(server, node, inputs, needle):
    graph = t2i(seed=5)
    graph[node]["inputs"].update(inputs)
    message = refused(server, graph, needle)
    assert repr(next(iter(inputs.values()))) in message or "not in list" in message.lower()


@pytest.mark.parametrize("node, name", [("s", "cfg"), ("s", "shift"), ("s", "cfg_trunc"),
                                        ("s", "renorm"), ("s", "denoise"), ("lora", "strength")])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_numbers_are_refused_by_name(server, node, name, value):
    graph = t2i(seed=6)
    graph["lora"] = {"class_type": "NewBieLoraLoader", "inputs": {
        "model": ["m", 0], "lora_name": "newbie_style_lora/", "strength": 1.0}}
    graph["s"]["inputs"]["model"] = ["lora", 0]
    graph[node]["inputs"][name] = value
    message = refused(server, graph, name)
    # NaN passes every comparison, so the node refuses it; ComfyUI's own max/min check
    # already refuses an infinity.
    assert "finite" in message or "than max" in message or "than min" in message, message
    assert "bfloat16" not in message


def test_tile_size_must_respect_its_step(server):
    graph = t2i(seed=7)
    graph["d"]["inputs"]["tile_size"] = 1
    refused(server, graph, "'tile_size'", "multiple of 64")


# -- damaged and wrong files -----------------------------------------------------------------
def put(server, folder, name, tensors):
    return write_safetensors(server.models / folder / name, tensors)


def test_integer_and_boolean_weights_are_named(server):
    weights = official_dit()
    weights["layers.0.attention.qkv.weight"] = weights["layers.0.attention.qkv.weight"].to(torch.int32)
    put(server, "diffusion_models", "int_weights.safetensors", weights)
    refused(server, load_model("int_weights.safetensors"), "int_weights.safetensors",
            "layers.0.attention.qkv.weight", "floating point")
    vae = load_file(str(server.models / "vae" / "ae_t2i.safetensors"))
    put(server, "vae", "bool_vae.safetensors", {k: v > 0 for k, v in vae.items()})
    graph = {"v": {"class_type": "NewBieVAELoader", "inputs": {
        "vae": "bool_vae.safetensors", "dtype": "float32"}}, **show("v")}
    refused(server, graph, "bool_vae.safetensors", "floating point")


def test_nan_weights_name_their_file(server):
    weights = official_dit(dtype=torch.bfloat16)
    weights["layers.1.feed_forward.w2.weight"][0, 0] = math.nan
    put(server, "diffusion_models", "nan_model.safetensors", weights)
    graph = t2i(seed=8)
    graph["m"]["inputs"]["model"] = "nan_model.safetensors"
    message = refused(server, graph, "nan_model.safetensors", "layers.1.feed_forward.w2.weight")
    assert "bfloat16" not in message and "float32" not in message


def test_garbage_embedded_tokenizer_is_named(server):
    gemma = load_file(str(server.models / "text_encoders" / "gemma_t2i.safetensors"))
    gemma["spiece_model"] = torch.randint(0, 255, (4096,), dtype=torch.uint8)
    put(server, "text_encoders", "gemma_garbage.safetensors", gemma)
    graph = {"te": {"class_type": "NewBieTextEncoderLoader", "inputs": {
        "gemma": "gemma_garbage.safetensors", "jina": "jina_t2i.safetensors", "dtype": "auto",
        "device": "default"}}, **show("te")}
    message = refused(server, graph, "gemma_garbage.safetensors", "not a SentencePiece model")
    assert "Internal" not in message.split("(")[0]


def lora_graph(name, strength=1.0):
    graph = t2i(seed=9)
    graph["lora"] = {"class_type": "NewBieLoraLoader", "inputs": {
        "model": ["m", 0], "lora_name": name, "strength": strength}}
    graph["s"]["inputs"]["model"] = ["lora", 0]
    return graph


def test_broken_loras_are_named(server):
    loras = server.models / "loras"
    pairs = lora_pairs()
    first = next(iter(pairs))
    rank0 = {m: (a[:0], b[:, :0]) for m, (a, b) in pairs.items()}
    write_single_file(loras / "rank0.safetensors", rank0, alpha=1.0)
    refused(server, lora_graph("rank0.safetensors"), "rank0.safetensors", "rank 0")

    vector = write_single_file(loras / "vector_alpha.safetensors", pairs, alpha=4.0)
    tensors = load_file(str(vector))
    tensors[f"diffusion_model.{first}.alpha"] = torch.ones(3)
    write_safetensors(vector, tensors)
    refused(server, lora_graph("vector_alpha.safetensors"), "vector_alpha.safetensors",
            "alpha must be one number")

    nan = load_file(str(write_single_file(loras / "nan_lora.safetensors", pairs, alpha=4.0)))
    nan[f"diffusion_model.{first}.lora_up.weight"][0, 0] = math.nan
    write_safetensors(loras / "nan_lora.safetensors", nan)
    refused(server, lora_graph("nan_lora.safetensors"), "nan_lora.safetensors", "NaN")

    for name, config, needle in (("peft_not_json", "{oops", "not a valid JSON adapter config"),
                                 ("peft_alpha_text", {"r": 4, "lora_alpha": "sixteen"},
                                  "lora_alpha must be a number")):
        folder = write_peft(loras / name, pairs, alpha=4.0)
        (folder / "adapter_config.json").write_text(
            config if isinstance(config, str) else json.dumps(config))
        refused(server, lora_graph(name + "/"), "adapter_config.json", needle)


# -- smaller ones -------------------------------------------------------------------------------
def xml_graph(slots):
    return {"x": {"class_type": "NewBieXMLPrompt", "inputs": {"character_slots": slots}},
            **show("x")}


def test_deeply_nested_slots_are_refused_and_the_preview_answers_400(server):
    deep = '{"characters": ' + "[" * 200_000 + "]" * 200_000 + "}"
    refused(server, xml_graph(deep), "character_slots", "nested too deeply")
    with pytest.raises(urllib.error.HTTPError) as err:
        server.request("/newbie/xml_preview", {"character_slots": deep})
    assert err.value.code == 400


@pytest.mark.parametrize("body", [[1, 2], {"character_slots": 5}, {"general_tags": ["a"]},
                                  {"caption": {"a": 1}}, {"general_tags": {"style": 3}}])
def test_the_preview_route_answers_400_to_a_wrong_typed_body(server, body):
    with pytest.raises(urllib.error.HTTPError) as err:
        server.request("/newbie/xml_preview", body)
    assert err.value.code == 400
    assert "bad preview request" in json.loads(err.value.read())["error"]


def test_a_lone_surrogate_is_named_with_the_check_off(server):
    graph = t2i(seed=10, text="a girl \ud800 smiling")
    graph["enc"]["inputs"]["xml_check"] = "off"
    refused(server, graph, "'text'", "lone surrogate", "position 7")


def test_a_bad_xml_negative_is_reported_once_under_its_own_name(server):
    graph = t2i(seed=11)
    graph["enc"]["inputs"]["negative"] = "<caption>open"
    result = run_alive(server, graph)
    message = result.refusal()
    assert message.count("is not valid") == 1 and "'negative'" in message, message
    assert "'text'" not in message


def test_error_types_are_shown_by_class_name(server):
    result = run_alive(server, load_model("int_weights.safetensors"))
    assert result.status == "error"
    assert result.error["exception_type"] == "CheckpointError", result.error["exception_type"]
