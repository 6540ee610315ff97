"""The main job: start the real ComfyUI host with this pack, run an example
workflow (UI format, as the editor saves it) through /prompt, print what it made.

    bash scripts/run.sh [example_workflows/<name>.json]
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "devtools"))

from comfy_host import ComfyServer  # noqa: E402
from workflow import ui_to_api  # noqa: E402

DEFAULT = REPO / "example_workflows" / "newbie_xml_two_characters.json"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT
    workflow = json.loads(path.read_text())
    with tempfile.TemporaryDirectory(prefix="newbie-run-") as tmp:
        server = ComfyServer(Path(tmp)).start()
        try:
            print(f"ComfyUI 0.3.75 with the NewBie pack at {server.url}", file=sys.stderr)
            prompt = ui_to_api(workflow, server.get_json("/object_info"))
            result = server.run(prompt)
            if result.status != "success":
                print(f"workflow {path.name} failed ({result.status}):\n"
                      f"{json.dumps(result.error, indent=2)}", file=sys.stderr)
                return 1
            for node_id, output in result.outputs.items():
                title = prompt[node_id]["_meta"]["title"]
                for text in output.get("text", []):
                    print(f"--- {title} (node {node_id}) ---\n{text}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
