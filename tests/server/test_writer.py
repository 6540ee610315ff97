"""NewBie Prompt Writer through the real server: the locked output parses and fills NewBie
XML Prompt's slots, progress is reported per token, cancel stops it, bad input is
refused with a clear message."""
from devtools.graphs import t2i

from newbie.prompt import GENERAL_TAG_FIELDS, parse_xml


def writer_graph(seed=0, **inputs) -> dict:
    graph = {k: v for k, v in t2i().items() if k == "te"}
    graph["w"] = {"class_type": "NewBiePromptWriter", "inputs": {
        "clip": ["te", 0], "request": "2girls, one with blue hair, one with red hair, beach",
        "max_tokens": 60, "temperature": 1.0, "top_k": 0, "seed": seed, "format_lock": True,
        **inputs}}
    graph["x"] = {"class_type": "NewBieXMLPrompt", "inputs": {
        "prompt": ["w", 0], **{f: "" for f in GENERAL_TAG_FIELDS}, "caption": "",
        "tidy_tags": False, "character_slots": ""}}
    graph["show"] = {"class_type": "PreviewAny", "inputs": {"source": ["x", 0]}}
    return graph


def test_the_written_prompt_parses_and_fills_xml_prompt(comfy, tiny):
    for seed in range(5):
        result, messages, _ = comfy.run_watched(writer_graph(seed))
        assert result.status == "success", result.error
        written = result.outputs["w"]["text"][0]
        prompt = parse_xml(written, strict=True)
        built = parse_xml(result.text("show"), strict=True)
        assert built.characters == prompt.characters
        assert built.general_tags == prompt.general_tags and built.caption == prompt.caption
        steps = [m["data"]["value"] for m in messages
                 if m["type"] == "progress" and m["data"]["node"] == "w"]
        assert steps and steps == sorted(steps) and steps[-1] <= 60


def test_greedy_writing_ignores_the_seed(comfy, tiny):
    texts = []
    for seed in (0, 7):  # two seeds, so the second run is not ComfyUI's cached output
        result = comfy.run(writer_graph(seed, temperature=0.0))
        assert result.status == "success", result.error
        texts.append(result.outputs["w"]["text"][0])
    assert texts[0] == texts[1]
    parse_xml(texts[0], strict=True)


def test_cancel_stops_the_writer(comfy, tiny):
    graph = writer_graph(max_tokens=4096, temperature=0.0, format_lock=False)
    result, stopping = comfy.run_interrupted(graph, after=3.0)
    assert result.status == "interrupted", result.messages
    assert stopping < 10
    assert comfy.alive()


def test_an_empty_request_is_refused(comfy, tiny):
    result = comfy.run(writer_graph(request="  "))
    assert "'request' is empty; say what to draw" in result.refusal()
