"""Writes example_workflows/*.json in the editor's UI format from compact graphs.

    python -m devtools.example_workflows      # from the repository root; rewrites the files

Widget values are listed in the order the editor stores them (required inputs,
then optional, an extra "fixed" after a seed), so the files load in the editor
and convert to API form like a saved workflow.
"""
from __future__ import annotations

import json
from pathlib import Path

from newbie.models.writer import WRITER_SYSTEM_PROMPT

REPO = Path(__file__).resolve().parents[1]


U = ("school_uniform, serafuku, white_sailor_collar, white_shirt, short_sleeves, "
     "red_neckerchief, bow, ")
CHARACTERS = [
    ["$character_1$", "1girl", "chibi, red_eyes, blue_hair, long_hair, hair_between_eyes, "
     "head_tilt, tareme, closed_mouth", U + "blue_skirt, miniskirt, pleated_skirt, blue_hat, "
     "mini_hat, thighhighs, grey_thighhighs, black_shoes, mary_janes", "", "happy, smile",
     "standing, holding, holding_briefcase", "", "center_left"],
    ["$character_2$", "1girl", "chibi, red_eyes, pink_hair, long_hair, very_long_hair, "
     "multi-tied_hair, open_mouth", U + "red_skirt, miniskirt, pleated_skirt, hair_bow, "
     "multiple_hair_bows, white_bow, ribbon_trim, ribbon-trimmed_bow, white_thighhighs, "
     "black_shoes, mary_janes, bow_legwear, bare_arms", "", "happy, smile",
     "standing, holding, holding_briefcase, waving", "", "center_right"],
]
GENERAL = ["2girls, multiple_girls", "", "anime_style, digital_art",
           "white_background, simple_background", "", "", "cheerful", "", "",
           "high_resolution, detailed", "briefcase", "alternate_costume"]
CHARACTER_WIDGETS = ["n", "gender", "appearance", "clothing", "body_type", "expression", "action",
                     "interaction", "position"]
GENERAL_WIDGETS = ["count", "artists", "style", "background", "environment", "perspective",
                   "atmosphere", "lighting", "resolution", "quality", "objects", "other"]
MODEL_FILES = {"model": "NewBie-Image-Exp0.1-bf16.safetensors",
               "gemma": "gemma_3_4b_it_bf16.safetensors",
               "jina": "jina_clip_v2_bf16.safetensors", "vae": "ae.safetensors"}
# Where ComfyUI's repackaged files are, in the form the front end reads on a node
# (properties.models): a missing file is then offered for download by name.
_REPACKAGED = "https://huggingface.co/Comfy-Org/NewBie-image-Exp0.1_repackaged/resolve/main/"
MODEL_LINKS = {
    MODEL_FILES["model"]: (_REPACKAGED + "split_files/diffusion_models/" + MODEL_FILES["model"],
                           "diffusion_models"),
    MODEL_FILES["gemma"]: (_REPACKAGED + "split_files/text_encoders/" + MODEL_FILES["gemma"],
                           "text_encoders"),
    MODEL_FILES["jina"]: (_REPACKAGED + "split_files/text_encoders/" + MODEL_FILES["jina"],
                          "text_encoders"),
    MODEL_FILES["vae"]: ("https://huggingface.co/Comfy-Org/Lumina_Image_2.0_Repackaged/resolve/"
                         "main/split_files/vae/ae.safetensors", "vae"),
}

# type -> (sockets in, widget names in, outputs)
NODES = {
    "NewBieCharacter": (["characters:NEWBIE_CHARACTER"], CHARACTER_WIDGETS,
                        ["characters:NEWBIE_CHARACTER"]),
    "NewBieXMLPrompt": (["characters:NEWBIE_CHARACTER", "prompt:STRING"],
                        GENERAL_WIDGETS + ["caption", "tidy_tags", "character_slots",
                                           "output_form"],
                        ["prompt:STRING"]),
    "NewBiePromptWriter": (["clip:CLIP"],
                           ["request", "max_tokens", "temperature", "top_k", "seed",
                            "format_lock", "current_prompt", "system_prompt"],
                           ["prompt:STRING"]),
    "NewBieModelLoader": ([], ["model", "dtype", "attention"], ["model:MODEL"]),
    "NewBieTextEncoderLoader": ([], ["gemma", "jina", "dtype", "device"],
                                ["clip:CLIP"]),
    "NewBieVAELoader": ([], ["vae", "dtype"], ["vae:VAE"]),
    "NewBieTextEncode": (["text_encoders:CLIP"],
                         ["text", "negative", "system_prompt", "max_tokens", "xml_check",
                          "system_prompt_mode"],
                         ["positive:CONDITIONING", "negative:CONDITIONING", "info:STRING"]),
    "NewBieEmptyLatent": ([], ["resolution", "width", "height", "batch_size"], ["LATENT:LATENT"]),
    "NewBieSampler": (["model:MODEL", "positive:CONDITIONING", "negative:CONDITIONING",
                       "latent_image:LATENT", "sigmas:SIGMAS"],
                      ["seed", "steps", "cfg", "solver", "shift", "cfg_trunc", "renorm",
                       "denoise", "dtype"], ["LATENT:LATENT"]),
    "NewBieVAEDecode": (["vae:VAE", "samples:LATENT"], ["dtype", "tile_size"],
                        ["IMAGE:IMAGE"]),
    "NewBieCFGGuider": (["model:MODEL", "positive:CONDITIONING", "negative:CONDITIONING"],
                        ["cfg", "cfg_trunc", "renorm"], ["GUIDER:GUIDER"]),
    "NewBieSamplerSelect": ([], ["solver"], ["SAMPLER:SAMPLER"]),
    "BasicScheduler": (["model:MODEL"], ["scheduler", "steps", "denoise"], ["SIGMAS:SIGMAS"]),
    "RandomNoise": ([], ["noise_seed"], ["NOISE:NOISE"]),
    "SamplerCustomAdvanced": (["noise:NOISE", "guider:GUIDER", "sampler:SAMPLER",
                               "sigmas:SIGMAS", "latent_image:LATENT"], [],
                              ["output:LATENT", "denoised_output:LATENT"]),
    "SaveImage": (["images:IMAGE"], ["filename_prefix"], []),
    "PreviewAny": (["source:*"], [], []),
    "LatentUpscale": (["samples:LATENT"], ["upscale_method", "width", "height", "crop"],
                      ["LATENT:LATENT"]),
    "VAELoader": ([], ["vae_name"], ["VAE:VAE"]),
    "VAEDecode": (["samples:LATENT", "vae:VAE"], [], ["IMAGE:IMAGE"]),
    # ComfyUI-Distributed's
    "DistributedSeed": ([], ["seed"], ["seed:INT"]),
    "DistributedCollector": (["images:IMAGE"], ["load_balance"], ["images:IMAGE"]),
}


# Each node's size on the canvas (without its title): the largest the front ends draw
# it at (1.32.9, 1.49.6, 1.58.1; classic and Nodes 2.0), measured by
# tests/browser/example_layout.mjs, so nodes neither overlap nor leave dead space.
SIZES = {
    "NewBieCharacter": (400, 480), "NewBieXMLPrompt": (420, 770), "NewBieTextEncode": (410, 425),
    "NewBiePromptWriter": (400, 425), "NewBieSampler": (330, 390), "PreviewAny": (400, 200),
    "NewBieModelLoader": (330, 110), "NewBieTextEncoderLoader": (330, 135),
    "NewBieVAELoader": (330, 85), "NewBieEmptyLatent": (330, 175), "NewBieVAEDecode": (330, 105),
    "NewBieCFGGuider": (330, 150), "NewBieSamplerSelect": (330, 60),
    "BasicScheduler": (330, 110), "RandomNoise": (330, 85), "SamplerCustomAdvanced": (330, 110),
    "LatentUpscale": (330, 135), "VAELoader": (330, 60), "VAEDecode": (330, 50),
    "SaveImage": (400, 400), "DistributedSeed": (330, 85), "DistributedCollector": (330, 60),
    "Note": (640, 110),
}
# Left to right: the groups, each a few columns of nodes stacked in the graph's order.
STAGES = [("Models", [["NewBieModelLoader", "NewBieTextEncoderLoader", "NewBieVAELoader",
                       "VAELoader"]]),
          ("Prompt", [["NewBieCharacter", "NewBiePromptWriter"],
                      ["NewBieXMLPrompt", "PreviewAny"], ["NewBieTextEncode"]]),
          ("Sampling", [["NewBieEmptyLatent", "DistributedSeed", "RandomNoise",
                         "NewBieSamplerSelect", "NewBieCFGGuider", "BasicScheduler"],
                        ["NewBieSampler", "SamplerCustomAdvanced", "LatentUpscale"]]),
          ("Image", [["NewBieVAEDecode", "VAEDecode", "DistributedCollector", "SaveImage"]])]
GAP, TITLE, MARGIN = 40, 30, 60  # between nodes, a node's title bar, inside a group
GROUP_COLORS = {"Models": "#3f789e", "Prompt": "#8A8", "Sampling": "#b06634", "Image": "#a1309b"}


def layout(graph, note: str):
    """Positions (x, y) per node name, the groups around the stages, and the note node
    above them: each stage's columns side by side, nodes stacked at their sizes."""
    positions, groups = {}, []
    x, top = MARGIN, MARGIN + SIZES["Note"][1] + TITLE + GAP * 2
    for stage, columns in STAGES:
        start, bottom = x, top
        for kinds in columns:
            members = [(name, kind) for name, kind, *_ in graph if kind in kinds]
            if not members:
                continue
            y = top + MARGIN
            for name, kind in members:
                positions[name] = (x + MARGIN // 2, y + TITLE)
                y += TITLE + SIZES[kind][1] + GAP
            bottom = max(bottom, y)
            x += max(SIZES[kind][0] for _, kind in members) + GAP
        if x > start:
            groups.append({"title": stage, "bounding": [start, top, x - start + MARGIN // 2 - GAP,
                                                        bottom - top], "color":
                           GROUP_COLORS[stage], "font_size": 24, "flags": {}})
            x += MARGIN
    placed = {name for name, *_ in graph}
    assert placed == set(positions), f"no column for {placed - set(positions)}"
    return positions, groups, ("note", "Note", [note], {}, "About this workflow")


def sampler(name, seed, latent, title=None, denoise=1.0, steps=28):
    """A NewBie Sampler node fed by the model loader and the text encoder."""
    values = [seed, "fixed", steps, 4.5, "euler", 6.0, 1.0, 0.0, denoise, "auto"]
    inputs = {"model": "model", "positive": ("enc", 0), "negative": ("enc", 1),
              "latent_image": latent}
    return (name, "NewBieSampler", values, inputs, title)


def prompt_nodes():
    """The official two-character example as nodes, feeding the text encoder."""
    return [
        ("c1", "NewBieCharacter", CHARACTERS[0], {}, "Character 1 (blue hair)"),
        ("c2", "NewBieCharacter", CHARACTERS[1], {"characters": "c1"}, "Character 2 (pink hair)"),
        ("xml", "NewBieXMLPrompt", GENERAL + ["", False, "", "auto"], {"characters": "c2"},
         None),
        ("show_xml", "PreviewAny", [], {"source": "xml"}, "XML prompt"),
        ("model", "NewBieModelLoader", [MODEL_FILES["model"], "auto", "auto"], {}, None),
        ("te", "NewBieTextEncoderLoader",
         [MODEL_FILES["gemma"], MODEL_FILES["jina"], "auto", "default"], {}, None),
        ("enc", "NewBieTextEncode", ["", "", "", 512, "auto", "auto"],
         {"text_encoders": "te", "text": "xml"}, None),
    ]


def t2i():
    """Text to image with the official two-character example: two NewBie Character nodes
    chained into NewBie XML Prompt (more characters: the slot editor on the node), NewBie
    Text Encode with the official system prompt, NewBie Sampler at the demo's settings
    (28 steps, CFG 4.5), NewBie VAE Decode in float32."""
    return prompt_nodes() + [
        ("latent", "NewBieEmptyLatent", ["1024x1024 (1:1)", 1024, 1024, 1], {}, None),
        sampler("sample", 42, "latent"),
        ("vae", "NewBieVAELoader", [MODEL_FILES["vae"], "float32"], {}, None),
        ("decode", "NewBieVAEDecode", ["float32", 0], {"vae": "vae", "samples": "sample"}, None),
        ("save", "SaveImage", ["NewBie"], {"images": "decode"}, None),
    ]


def hires_fix():
    """Hires fix: a first pass at 512², core Upscale Latent to 1024², a second NewBie
    Sampler pass at denoise 0.5 on the same conditioning."""
    return prompt_nodes() + [
        ("latent", "NewBieEmptyLatent", ["custom", 512, 512, 1], {}, None),
        sampler("sample", 7, "latent", "First pass 512²"),
        ("upscale", "LatentUpscale", ["bislerp", 1024, 1024, "disabled"],
         {"samples": "sample"}, None),
        sampler("refine", 7, "upscale", "Hires pass (denoise 0.5)", denoise=0.5, steps=20),
        ("vae", "NewBieVAELoader", [MODEL_FILES["vae"], "float32"], {}, None),
        ("decode", "NewBieVAEDecode", ["float32", 0], {"vae": "vae", "samples": "refine"}, None),
        ("save", "SaveImage", ["NewBie_hires"], {"images": "decode"}, None),
    ]


def core_vae_decode():
    """Core nodes mixed in: core Load VAE and VAE Decode on NewBie's latent (the FLUX
    VAE), after NewBie's prompt nodes and sampler."""
    return prompt_nodes() + [
        ("latent", "NewBieEmptyLatent", ["1024x1024 (1:1)", 1024, 1024, 1], {}, None),
        sampler("sample", 3, "latent"),
        ("vae", "VAELoader", [MODEL_FILES["vae"]], {}, "Load VAE (core)"),
        ("decode", "VAEDecode", [], {"samples": "sample", "vae": "vae"}, "VAE Decode (core)"),
        ("save", "SaveImage", ["NewBie_core_decode"], {"images": "decode"}, None),
    ]


def custom_sampling():
    """Core SamplerCustomAdvanced with NewBie's guider (the official CFG truncated at the
    demo's 0.25) and solver, on core's scheduler and noise."""
    return prompt_nodes() + [
        ("latent", "NewBieEmptyLatent", ["1024x1024 (1:1)", 1024, 1024, 1], {}, None),
        ("guider", "NewBieCFGGuider", [4.5, 0.25, 0.0],
         {"model": "model", "positive": ("enc", 0), "negative": ("enc", 1)}, None),
        ("solver", "NewBieSamplerSelect", ["euler"], {}, None),
        ("sigmas", "BasicScheduler", ["simple", 28, 1.0], {"model": "model"}, None),
        ("noise", "RandomNoise", [42, "fixed"], {}, None),
        ("sample", "SamplerCustomAdvanced", [], {"noise": "noise", "guider": "guider",
                                                 "sampler": "solver", "sigmas": "sigmas",
                                                 "latent_image": "latent"}, None),
        ("vae", "NewBieVAELoader", [MODEL_FILES["vae"], "float32"], {}, None),
        ("decode", "NewBieVAEDecode", ["float32", 0], {"vae": "vae", "samples": "sample"}, None),
        ("save", "SaveImage", ["NewBie_custom"], {"images": "decode"}, None),
    ]


def distributed():
    """The text-to-image graph for ComfyUI-Distributed: DistributedSeed gives each
    participant its own seed (the master the one set, worker N that plus N + 1), and
    DistributedCollector gathers every participant's image on the master."""
    nodes = t2i()
    nodes[nodes.index(next(n for n in nodes if n[0] == "sample"))] = (
        "sample", "NewBieSampler", [42, "fixed", 28, 4.5, "euler", 6.0, 1.0, 0.0, 1.0, "auto"],
        {"model": "model", "positive": ("enc", 0), "negative": ("enc", 1),
         "latent_image": "latent", "seed": "seed"}, None)
    return [("seed", "DistributedSeed", [42, "fixed"], {}, "Distributed Seed"), *nodes[:-1],
            ("collect", "DistributedCollector", [False], {"images": "decode"}, None),
            ("save", "SaveImage", ["NewBie_distributed"], {"images": "collect"}, None)]


def to_ui(graph, note: str = "") -> dict:
    positions, groups, note_node = layout(graph, note)
    graph = [*graph, note_node]
    positions["note"] = (MARGIN, MARGIN + TITLE)
    ids = {name: i for i, (name, *_) in enumerate(graph, start=1)}
    nodes, links = [], []
    for order, (name, kind, values, inputs, title) in enumerate(graph):
        sockets, widgets, outputs = NODES.get(kind, ([], [], []))
        node_inputs = []
        for spec in sockets + [f"{w}:WIDGET" for w in widgets]:
            input_name, input_type = spec.split(":")
            source = inputs.get(input_name)
            if input_type == "WIDGET" and source is None:
                continue
            link, link_type = None, input_type
            if source is not None:
                src, slot = source if isinstance(source, tuple) else (source, 0)
                link = len(links) + 1
                src_type = NODES[dict((g[0], g[1]) for g in graph)[src]][2][slot].split(":")[1]
                links.append([link, ids[src], slot, ids[name], len(node_inputs), src_type])
                if input_type == "WIDGET":  # a widget turned into a socket takes the link's type
                    link_type = src_type
            entry = {"name": input_name, "type": link_type, "link": link}
            if input_type == "WIDGET":
                entry["widget"] = {"name": input_name}
            node_inputs.append(entry)
        node = {"id": ids[name], "type": kind, "pos": list(positions[name]),
                "size": list(SIZES[kind]), "flags": {}, "order": order, "mode": 0,
                "inputs": node_inputs,
                "outputs": [{"name": o.split(":")[0], "type": o.split(":")[1], "links": []}
                            for o in outputs],
                "properties": {"Node name for S&R": kind}, "widgets_values": values}
        links_for = [{"name": v, "url": MODEL_LINKS[v][0], "directory": MODEL_LINKS[v][1]}
                     for v in values if isinstance(v, str) and v in MODEL_LINKS]
        if links_for:
            node["properties"]["models"] = links_for
        if title:
            node["title"] = title
        nodes.append(node)
    for link_id, src, slot, *_ in links:
        nodes[src - 1]["outputs"][slot]["links"].append(link_id)
    return {"id": "00000000-0000-4000-8000-000000000000", "revision": 0,
            "last_node_id": len(nodes), "last_link_id": len(links), "nodes": nodes,
            "links": links, "groups": groups, "config": {},
            "extra": {"ds": {"scale": 0.7, "offset": [0, 0]}}, "version": 0.4}


def comfy_template_prompt():
    """ComfyUI's NewBie template prompt pasted as it is (its system prompt inline, then the
    JSON form with the XML inside) and its negative: NewBie Text Encode gives Gemma the
    text as typed and Jina the part after <Prompt Start>. The template's size and CFG."""
    data = REPO / "tests" / "data"
    text = (data / "comfy_template_prompt.txt").read_text()
    negative = (data / "comfy_template_negative.txt").read_text()
    return [
        ("model", "NewBieModelLoader", [MODEL_FILES["model"], "auto", "auto"], {}, None),
        ("te", "NewBieTextEncoderLoader",
         [MODEL_FILES["gemma"], MODEL_FILES["jina"], "auto", "default"], {}, None),
        ("enc", "NewBieTextEncode", [text, negative, "", 1024, "auto", "auto"],
         {"text_encoders": "te"}, "NewBie Text Encode (the template's prompt, as pasted)"),
        ("latent", "NewBieEmptyLatent", ["custom", 1024, 1536, 1], {}, None),
        ("sample", "NewBieSampler", [42, "fixed", 20, 5.5, "euler", 6.0, 1.0, 0.0, 1.0, "auto"],
         {"model": "model", "positive": ("enc", 0), "negative": ("enc", 1),
          "latent_image": "latent"}, None),
        ("vae", "NewBieVAELoader", [MODEL_FILES["vae"], "float32"], {}, None),
        ("decode", "NewBieVAEDecode", ["float32", 0], {"vae": "vae", "samples": "sample"}, None),
        ("save", "SaveImage", ["NewBie_template"], {"images": "decode"}, None),
    ]


def prompt_writer():
    """Gemma writes the XML from a tag list; NewBie XML Prompt fills from it (its own
    fields and slots still apply), and the image follows."""
    request = ("2girls, a girl with long blue hair in a school uniform holding a briefcase, "
               "a girl with pink twintails waving, white background, cheerful")
    nodes = prompt_nodes()
    writer = ("writer", "NewBiePromptWriter", [request, 512, 0.0, 40, 0, "fixed", True, "",
                                                WRITER_SYSTEM_PROMPT], {"clip": "te"}, None)
    xml = ("xml", "NewBieXMLPrompt", [""] * len(GENERAL) + ["", False, "", "auto"],
           {"prompt": "writer"}, None)
    keep = [n for n in nodes if n[0] in ("model", "te")]
    enc = next(n for n in nodes if n[0] == "enc")
    return keep + [writer, xml, ("show_xml", "PreviewAny", [], {"source": "xml"},
                                 "The prompt Gemma wrote"), enc] + t2i()[len(nodes):]


def xml_only():
    """The prompt nodes alone: characters chained into NewBie XML Prompt, its XML shown
    by Preview Any. No model needed."""
    return prompt_nodes()[:4]


WORKFLOWS = {"newbie_xml_two_characters": xml_only, "newbie_t2i_two_characters": t2i,
             "newbie_hires_fix_latent_upscale": hires_fix,
             "newbie_t2i_core_vae_decode": core_vae_decode,
             "newbie_custom_sampler_guider": custom_sampling,
             "newbie_t2i_distributed": distributed,
             "newbie_t2i_comfy_template_prompt": comfy_template_prompt,
             "newbie_prompt_writer_slots": prompt_writer}

def workflow(name: str) -> dict:
    """An example in UI form, its builder's docstring as the note on the canvas."""
    build = WORKFLOWS[name]
    return to_ui(build(), " ".join((build.__doc__ or "").split()))


if __name__ == "__main__":
    for name in WORKFLOWS:
        path = REPO / "example_workflows" / f"{name}.json"
        path.write_text(json.dumps(workflow(name), indent=1, ensure_ascii=False) + "\n")
        print(path.relative_to(REPO))
