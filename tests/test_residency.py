"""The residency schedule (nodes/memory.py): each model is on the compute device only
for its phase. No GPU here, so the GPU is the one thing faked: ComfyUI reports a CUDA
device and the modules record where they are sent."""
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def memory(monkeypatch):
    spec = importlib.util.spec_from_file_location("newbie_pack_memory",
                                                  REPO / "nodes" / "memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    events = []
    fake = types.SimpleNamespace(
        VRAMState=types.SimpleNamespace(HIGH_VRAM="high"), vram_state="normal",
        get_torch_device=lambda: torch.device("cuda", 0),
        unet_offload_device=lambda: torch.device("cpu"),
        free_memory=lambda size, device: events.append(("free", size, device.type)),
        soft_empty_cache=lambda: events.append(("empty_cache",)))
    comfy = types.ModuleType("comfy")
    comfy.model_management = fake
    monkeypatch.setitem(sys.modules, "comfy", comfy)
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake)
    return module, events, fake


class Spy(torch.nn.Module):
    def __init__(self, name, events, size):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(size))
        self.name, self.events, self.where = name, events, "cpu"

    def to(self, device):
        self.where = torch.device(device).type
        self.events.append(("to", self.name, self.where))
        return self


def test_encoders_are_off_the_card_while_sampling(memory):
    mem, events, _ = memory
    encoders, transformer = Spy("encoders", events, 300), Spy("transformer", events, 200)
    with mem.on_compute_device(encoders):
        assert encoders.where == "cuda"
    with mem.on_compute_device(transformer):
        assert (encoders.where, transformer.where) == ("cpu", "cuda")
    assert transformer.where == "cpu"
    assert events[0] == ("free", 300 * 4, "cuda")  # ComfyUI frees room first
    assert [e for e in events if e[0] == "to"] == [
        ("to", "encoders", "cuda"), ("to", "encoders", "cpu"),
        ("to", "transformer", "cuda"), ("to", "transformer", "cpu")]


def test_highvram_keeps_models_resident(memory):
    mem, events, fake = memory
    fake.vram_state = "high"
    model = Spy("transformer", events, 10)
    with mem.on_compute_device(model):
        pass
    assert model.where == "cuda"


def test_a_failure_still_offloads(memory):
    mem, events, _ = memory
    model = Spy("transformer", events, 10)
    with pytest.raises(RuntimeError):
        with mem.on_compute_device(model):
            raise RuntimeError("out of memory")
    assert model.where == "cpu"
