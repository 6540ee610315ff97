"""Per-node help pages (web/docs/<node id>.md), served where the front end's node-docs
panel fetches them: /extensions/<pack folder>/docs/<node id>.md. Each page names every
input of its node, so the docs cannot silently fall behind the schemas."""
import re


def test_every_node_has_a_served_help_page_naming_its_inputs(comfy):
    info = comfy.get_json("/object_info")
    nodes = {name: d for name, d in info.items() if name.startswith("NewBie")}
    assert len(nodes) >= 11
    for name, definition in nodes.items():
        pack = definition["python_module"].split(".", 1)[1]  # custom_nodes.<pack folder>
        page = comfy.request(f"/extensions/{pack}/docs/{name}.md").decode()
        assert page.startswith("# " + definition["display_name"]), name
        named = set(re.findall(r"\*\*(\w+)\*\*", page))
        inputs = {k for section in ("required", "optional")
                  for k in definition["input"].get(section, {})}
        assert inputs <= named, f"{name}.md does not describe {sorted(inputs - named)}"


def test_the_encoders_input_shows_its_type_and_keeps_its_saved_id(comfy):
    """NewBie Text Encode's CLIP input is shown as `clip` (what feeds it) while its id,
    which saved workflows and API prompts connect by, stays `text_encoders`."""
    spec = comfy.get_json("/object_info/NewBieTextEncode")["NewBieTextEncode"]
    kind, options = spec["input"]["required"]["text_encoders"]
    assert kind == "CLIP" and options.get("display_name") == "clip", options
