"""Same API prompt, same image, on any server: what SwarmUI's backends and
ComfyUI-Distributed rely on when they send one workflow to several servers.

Two servers side by side on one model folder: one with ComfyUI's caches off (every
prompt computed from nothing), one with its default caching that two clients feed
interleaved prompts (LoRA and plain, bf16 and float32, different seeds). Every image
must be the same PNG, byte for byte, on both: no state survives a prompt beyond
ComfyUI's own caches."""
import hashlib
import threading
import uuid

import pytest
from devtools.comfy_host import ComfyServer
from devtools.graphs import t2i


def variants() -> dict[str, dict]:
    """Prompts that share loaders (so the caching server reuses their outputs) and
    differ in what could leak from one run into the next."""
    plain = t2i(seed=21, steps=3, width=64, height=64)
    fp32 = t2i(seed=22, steps=3, width=64, height=80, cfg=3.0, dtype="float32")
    lora = t2i(seed=23, steps=3, width=64, height=64)
    lora["lora"] = {"class_type": "NewBieLoraLoader", "inputs": {
        "model": ["m", 0], "lora_name": "newbie_style_lora/", "strength": 1.5}}
    lora["s"]["inputs"]["model"] = ["lora", 0]
    xml = t2i(seed=24, steps=3, width=80, height=64,
              text="<character_1><n>miku</n><gender>1girl</gender></character_1>")
    return {"plain": plain, "fp32": fp32, "lora": lora, "xml": xml}


@pytest.fixture(scope="module")
def servers(comfy, tiny, tmp_path_factory):
    """A caches-off server and a default one, both on the session server's models."""
    started = []
    try:
        for name, args in (("nocache", ["--cache-none"]), ("cached", [])):
            started.append(ComfyServer(tmp_path_factory.mktemp(name), extra_args=args,
                                       models=comfy.models).start())
        yield started
    finally:
        for server in started:
            server.stop()


def png_digest(server, result) -> str:
    assert result.status == "success", result.error
    image = result.outputs["save"]["images"][0]
    return hashlib.sha256(server.view(image)).hexdigest()


def test_same_prompt_same_png_on_two_servers_and_under_interleaving(servers):
    alone, shared = servers
    prompts = variants()
    expected = {name: png_digest(alone, alone.run(p)) for name, p in prompts.items()}
    assert len(set(expected.values())) == len(prompts)  # the variants really differ

    # Two clients queue at once, each its own order, twice over: runs interleave and
    # the second round reuses everything the caching server kept from the first.
    got: dict[str, list[str]] = {name: [] for name in prompts}
    errors: list[BaseException] = []

    def client(order):
        try:
            client_id = uuid.uuid4().hex
            queued = [(name, shared.queue(prompts[name], client_id)) for name in order]
            for name, (prompt_id, invalid) in queued:
                assert invalid is None, invalid
                got[name].append(png_digest(shared, shared.wait(prompt_id)))
        except BaseException as err:  # reported below, from the test's own thread
            errors.append(err)

    threads = [threading.Thread(target=client, args=(order,)) for order in (
        ["plain", "lora", "fp32", "xml"] * 2, ["lora", "xml", "plain", "fp32"] * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert not errors, errors
    assert got == {name: [digest] * 4 for name, digest in expected.items()}
