"""ComfyUI-Distributed with this pack: a master and a worker on loopback, both with the
pack and ComfyUI-Distributed, run the text-to-image graph with DistributedSeed feeding
NewBie Sampler's seed and DistributedCollector before the output. The master collects
one image per participant, each the image a plain server makes for that seed."""
import io
import json
import tarfile
from pathlib import Path

import pytest
from devtools.comfy_host import ComfyServer
from devtools.graphs import pixels, png, t2i
from PIL import Image

DISTRIBUTED = Path(__file__).resolve().parents[3] / "shared" / "packs" / \
    "ComfyUI-Distributed-a91f9fb.tar.xz"
SEED = 300


@pytest.fixture(scope="module")
def master(comfy, tiny, tmp_path_factory):
    if not DISTRIBUTED.exists():
        pytest.skip(f"ComfyUI-Distributed is not beside this checkout ({DISTRIBUTED})")
    root = tmp_path_factory.mktemp("distributed")
    with tarfile.open(DISTRIBUTED) as archive:  # unpacked at test time, never committed
        archive.extractall(root / "packs", filter="data")
    pack = next((root / "packs").iterdir())
    worker = ComfyServer(root / "worker", models=comfy.models, other_packs=[pack],
                         env={"COMFYUI_IS_WORKER": "1"})
    master = ComfyServer(root / "master", models=comfy.models, other_packs=[pack])
    try:
        worker.start()
        master.start()
        master.request("/distributed/config/update_worker", {
            "worker_id": "worker_0", "name": "loopback worker", "host": "127.0.0.1",
            "port": worker.port, "cuda_device": 0, "enabled": True, "type": "remote"})
        yield master
    finally:
        master.stop()
        worker.stop()


def distributed_graph() -> dict:
    graph = t2i(seed=SEED)
    graph["seed"] = {"class_type": "DistributedSeed", "inputs": {"seed": SEED}}
    graph["s"]["inputs"]["seed"] = ["seed", 0]
    graph["collect"] = {"class_type": "DistributedCollector", "inputs": {
        "images": ["d", 0], "load_balance": False}}
    graph["save"]["inputs"].update(images=["collect", 0], filename_prefix="distributed")
    return graph


def test_master_and_worker_each_make_the_plain_servers_image(comfy, master):
    reply = json.loads(master.request("/distributed/queue", {
        "prompt": distributed_graph(), "client_id": "newbie-test",
        "enabled_worker_ids": ["worker_0"]}))
    assert reply["worker_count"] == 1, reply
    result = master.wait(reply["prompt_id"])
    assert result.status == "success", result.error
    images = [pixels(Image.open(io.BytesIO(master.view(image))))
              for image in result.outputs["save"]["images"]]
    assert len(images) == 2  # one per participant
    plain = {seed: pixels(png(comfy, comfy.run(t2i(seed=seed)))) for seed in (SEED, SEED + 1)}
    assert not (plain[SEED] == plain[SEED + 1]).all()  # the seeds do differ
    for image, seed in zip(images, (SEED, SEED + 1), strict=True):
        assert (image == plain[seed]).all(), f"participant with seed {seed}"


def test_the_distributed_example_workflow_runs(master, comfy):
    """example_workflows/newbie_t2i_distributed.json, converted as the editor would save
    it, on the master with its worker (the random model set under the official names)."""
    from devtools.model_set import write_tiny_model_set
    from devtools.workflow import ui_to_api

    write_tiny_model_set(comfy.models)
    workflow = json.loads((Path(__file__).resolve().parents[2] / "example_workflows" /
                           "newbie_t2i_distributed.json").read_text())
    prompt = ui_to_api(workflow, master.get_json("/object_info"))
    reply = json.loads(master.request("/distributed/queue", {
        "prompt": prompt, "client_id": "newbie-test", "enabled_worker_ids": ["worker_0"]}))
    result = master.wait(reply["prompt_id"], timeout=1800)
    assert result.status == "success", result.error
    save = next(node for node, spec in prompt.items() if spec["class_type"] == "SaveImage")
    assert len(result.outputs[save]["images"]) == 2
