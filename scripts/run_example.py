"""The main job: start the real ComfyUI host with this pack, run an example workflow
(UI format, as the editor saves it) through /prompt, and save what it made.

    bash scripts/run.sh [--serve] [example_workflows/<name>.json]

With NEWBIE_MODELS pointing at a ComfyUI `models` folder that holds the files the
workflow names (the real NewBie weights), those are used. Otherwise a random model
set is written under the same names into out/models (tiny transformer and text
encoders, full-size FLUX VAE; kept for the next run and for --serve) and the run says
so: the image is then noise, but every node ran. Each image is written to out/ under a
name of its own. --serve keeps the server running afterwards, with the workflow saved
in its workflow browser, until Ctrl-C.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from devtools.comfy_host import REPO, ComfyServer
from devtools.workflow import ui_to_api

DEFAULT = REPO / "example_workflows" / "newbie_t2i_two_characters.json"
OUT = REPO / "out"
# Loader node -> (widget position, model folder, role in the random set)
LOADER_FILES = {"NewBieModelLoader": [(0, "diffusion_models", "model")],
                "NewBieTextEncoderLoader": [(0, "text_encoders", "gemma"),
                                            (1, "text_encoders", "jina")],
                "NewBieVAELoader": [(0, "vae", "vae")], "VAELoader": [(0, "vae", "vae")]}


def needed_files(workflow: dict) -> dict[str, Path]:
    """role -> path relative to a models folder, read off the loader nodes."""
    return {role: Path(folder) / node["widgets_values"][i] for node in workflow["nodes"]
            for i, folder, role in LOADER_FILES.get(node["type"], [])}


def main(argv: list[str]) -> int:
    serve = "--serve" in argv
    argv = [a for a in argv if a != "--serve"]
    path = Path(argv[0]) if argv else DEFAULT
    workflow = json.loads(path.read_text())
    real = Path(os.environ.get("NEWBIE_MODELS", Path.home() / "ComfyUI" / "models"))
    files = needed_files(workflow)
    with tempfile.TemporaryDirectory(prefix="newbie-run-") as tmp:
        tmp = Path(tmp)
        if not files:
            models, note = tmp / "models", "models: none needed by this workflow"
        elif all((real / f).exists() for f in files.values()):
            models, note = real, f"models: the real weights from {real}"
        else:
            models = OUT / "models"
            if not all((models / f).exists() for f in files.values()):
                from devtools.model_set import write_tiny_model_set
                write_tiny_model_set(models, {role: f.name for role, f in files.items()})
            note = (f"models: the random model set in {models} (tiny transformer and text "
                    f"encoders, full-size FLUX VAE); the real weights were not found in {real} "
                    "(set NEWBIE_MODELS to a ComfyUI models folder)")
        print(note, flush=True)
        server = ComfyServer(tmp / "run", models=models).start()
        try:
            print(f"running {path.name} on ComfyUI 0.3.75 with the NewBie pack (this server "
                  "stops when the run ends; --serve keeps it)", flush=True)
            prompt = ui_to_api(workflow, server.get_json("/object_info"))
            result = server.run(prompt, timeout=3600)
            if result.status != "success":
                print(f"workflow failed ({result.status}):\n{json.dumps(result.error, indent=2)}",
                      file=sys.stderr)
                return 1
            OUT.mkdir(exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for node_id, output in result.outputs.items():
                title = prompt[node_id]["_meta"]["title"]
                for text in output.get("text", []):
                    print(f"--- {title} (node {node_id}) ---\n{text}")
                for image in output.get("images", []):
                    target = OUT / f"{path.stem}_{stamp}_{image['filename']}"
                    target.write_bytes(server.view(image))
                    print(f"--- {title} (node {node_id}) ---\nimage written: {target.resolve()}")
            if serve:
                saved = tmp / "run" / "base" / "user" / "default" / "workflows" / path.name
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps(workflow))
                print(f"serving at {server.url} (workflow {path.name} in the workflow browser); "
                      "Ctrl-C stops it", flush=True)
                try:
                    while server.alive():
                        time.sleep(1)
                except KeyboardInterrupt:
                    pass
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
