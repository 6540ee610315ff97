"""One encode path for every NewBie CLIP. On core's NewBie CLIP (0.33: DualCLIPLoader
type newbie), core's Gemma 3 4B and Jina towers have fixed sizes, so tiny weights cannot
load there: the CLIP here is a real `comfy.sd.CLIP` with core's real NewBie tokenizer
(over the tiny files' SentencePiece models), and only its encoder module is a stand-in
that records the tokens it is given and returns them as features. Ours is the real one,
through the server."""
import pytest
import torch
from safetensors.torch import load_file
from devtools.tiny_text import write_gemma_comfy, write_jina_comfy

from newbie.prompt import SYSTEM_PROMPTS

TEXT = "<caption>a girl, >_< waving</caption>"


class RecordingEncoders(torch.nn.Module):
    """Stands in for core's NewBieTEModel: same call, features made from the tokens."""

    seen: list = []

    def __init__(self, device="cpu", dtype=None, model_options={}):  # noqa: B006 (core's signature)
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.ones(1))
        self.dtypes = {torch.float32}

    def reset_clip_options(self):
        pass

    def set_clip_options(self, options):
        pass

    def encode_token_weights(self, tokens):
        RecordingEncoders.seen.append(tokens)
        gemma = torch.tensor([[t[0] for t in tokens["gemma"][0]]], dtype=torch.float32)
        jina = torch.tensor([[t[0] for t in tokens["jina"][0]]], dtype=torch.float32)
        return (gemma[..., None].expand(-1, -1, 4), jina.sum(1, keepdim=True).expand(-1, 4),
                {"attention_mask": torch.ones(gemma.shape, dtype=torch.long)})


@pytest.fixture()
def core_clip(pack, host, tmp_path):
    if host.startswith("0.3."):
        pytest.skip("ComfyUI 0.3.75 has no NewBie CLIP")
    import comfy.sd
    import comfy.supported_models_base
    import comfy.text_encoders.newbie

    spiece = {"gemma_spiece_model": load_file(write_gemma_comfy(tmp_path / "g.safetensors"))
              ["spiece_model"],
              "jina_spiece_model": load_file(write_jina_comfy(tmp_path / "j.safetensors"))
              ["spiece_model"]}
    target = comfy.supported_models_base.ClipTarget(comfy.text_encoders.newbie.NewBieTokenizer,
                                                     RecordingEncoders)
    RecordingEncoders.seen = []
    return comfy.sd.CLIP(target=target, tokenizer_data=spiece)


def ids(batches):
    return [t[0] for t in batches[0]]


def test_the_system_prompt_reaches_gemma_only(core_clip):
    from newbie_pack.nodes.encode_nodes import NewBieTextEncode

    out = NewBieTextEncode.execute(core_clip, TEXT, "blurry", "", 512)
    assert len(RecordingEncoders.seen) == 2  # one encode each, each tower tokenized once
    positive, negative, info = out.result
    pos_tokens, neg_tokens = RecordingEncoders.seen
    assert ids(pos_tokens["gemma"]) == ids(core_clip.tokenize(SYSTEM_PROMPTS["xml"] + TEXT)["gemma"])
    assert ids(pos_tokens["jina"]) == ids(core_clip.tokenize(TEXT)["jina"])
    assert len(ids(pos_tokens["gemma"])) > len(ids(core_clip.tokenize(TEXT)["gemma"])) + 10
    assert ids(neg_tokens["gemma"]) == ids(core_clip.tokenize("blurry")["gemma"])  # no system prompt
    assert ids(neg_tokens["jina"]) == ids(core_clip.tokenize("blurry")["jina"])
    # The CONDITIONING is what the CLIP gave, with its pooled vector and mask.
    assert positive[0][0][0, :, 0].tolist() == ids(pos_tokens["gemma"])
    assert set(positive[0][1]) >= {"pooled_output", "attention_mask"}
    assert "system prompt: xml (auto: XML prompt)" in info


def test_gemma_is_cut_at_max_tokens(core_clip):
    from newbie_pack.nodes.encode_nodes import NewBieTextEncode

    _, _, info = NewBieTextEncode.execute(core_clip, TEXT, "", "", 16).result
    full = ids(core_clip.tokenize(SYSTEM_PROMPTS["xml"] + TEXT)["gemma"])
    assert ids(RecordingEncoders.seen[0]["gemma"]) == full[:16]
    assert f"cut: {len(full) - 16} tokens dropped" in info


def test_a_clip_that_is_not_newbie_is_refused_by_name(pack):
    from newbie_pack.nodes.encode_nodes import NewBieTextEncode

    class SomeCLIP:
        cond_stage_model = torch.nn.Linear(1, 1)
        tokenizer = object()

        def encode_from_tokens(self, *args, **kwargs):
            raise AssertionError("must not be reached")

    with pytest.raises(ValueError, match="needs NewBie's text encoders.*got a CLIP of Linear"):
        NewBieTextEncode.execute(SomeCLIP(), TEXT, "", "", 512)


def test_core_clip_text_encode_on_our_clip_equals_newbie_text_encode(comfy, tiny):
    """Load NewBie Text Encoders gives a CLIP: core CLIPTextEncode on it (the text as
    given) conditions the sampler exactly as NewBie Text Encode with no system prompt."""
    import safetensors.torch
    from devtools.graphs import t2i

    graph = t2i(seed=31, text="a girl waving, >_<")
    graph["enc"]["inputs"].update(system_prompt_mode="as typed", system_prompt="")
    graph["core_pos"] = {"class_type": "CLIPTextEncode", "inputs": {
        "clip": ["te", 0], "text": "a girl waving, >_<"}}
    graph["core_neg"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["te", 0], "text": ""}}
    graph["s_core"] = {**graph["s"], "inputs": {**graph["s"]["inputs"],
                                                "positive": ["core_pos", 0],
                                                "negative": ["core_neg", 0]}}
    for name in ("s", "s_core"):
        graph[f"save_{name}"] = {"class_type": "SaveLatent", "inputs": {
            "samples": [name, 0], "filename_prefix": f"clip_{name}"}}
    for node in ("d", "save"):
        graph.pop(node)
    result = comfy.run(graph)
    assert result.status == "success", result.error
    ours, core = (safetensors.torch.load(comfy.view(result.outputs[f"save_{n}"]["latents"][0]))
                  ["latent_tensor"] for n in ("s", "s_core"))
    assert ours.std() > 0.1 and torch.equal(ours, core)  # on every CPU: one path
    info = comfy.get_json("/object_info")
    assert info["NewBieTextEncoderLoader"]["output"] == ["CLIP"]
    assert info["NewBieTextEncode"]["input"]["required"]["text_encoders"][0] == "CLIP"


def test_a_cloned_core_clip_keeps_the_official_routing(core_clip):
    """Core nodes clone the CLIP (LoRA loaders, Select CLIP Device, hooks); the clone
    is still a NewBie CLIP to NewBie Text Encode."""
    from newbie_pack.nodes.encode_nodes import NewBieTextEncode

    NewBieTextEncode.execute(core_clip.clone(), TEXT, "", "", 512)
    assert ids(RecordingEncoders.seen[0]["jina"]) == ids(core_clip.tokenize(TEXT)["jina"])


def test_the_templates_own_system_prompt_is_routed_on_core_clip(core_clip):
    """The template's prompt on core's CLIP through NewBie Text Encode: Gemma's tokens are
    the text as typed (no second system prompt), Jina's the part after <Prompt Start>."""
    from pathlib import Path

    from newbie_pack.nodes.encode_nodes import NewBieTextEncode

    from newbie.prompt import split_system_prompt

    template = (Path(__file__).parents[1] / "data" / "comfy_template_prompt.txt").read_text()

    NewBieTextEncode.execute(core_clip, template, "", "", 4096)
    tokens = RecordingEncoders.seen[0]
    assert ids(tokens["gemma"]) == ids(core_clip.tokenize(template)["gemma"])
    body = split_system_prompt(template)[1]
    assert ids(tokens["jina"]) == ids(core_clip.tokenize(body)["jina"])


def test_the_writer_refuses_core_clip_with_the_reason(core_clip, pack):
    with pytest.raises(ValueError, match="core's NewBie CLIP has no text generation"):
        pack.comfy_glue.writer.writer_for(core_clip)
