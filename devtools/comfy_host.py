"""A real ComfyUI server for the tests: start, talk to it over HTTP, stop.

The host (venv + ComfyUI 0.3.75 or 0.33.0) comes from scripts/setup_host.sh. Each server
gets its own base folder (custom_nodes with this pack linked in, input, output,
temp, user) and a model folder added through an extra-model-paths YAML.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK_DIR_NAME = "ComfyUI-NewBie"
MODEL_FOLDERS = ("diffusion_models", "text_encoders", "vae", "loras")


def host_dir() -> Path:
    """The prepared host; builds it (or reuses the cached one) when not given."""
    given = os.environ.get("NEWBIE_HOST")
    if given:
        return Path(given)
    out = subprocess.run(["bash", str(REPO / "scripts" / "setup_host.sh")], check=True,
                         stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def host_version() -> str:
    """The ComfyUI version of the test host (`comfyui_version.py`, or 0.3.75's tree)."""
    root = host_dir() / "ComfyUI"
    marker = root / "comfyui_version.py"
    if marker.exists():
        for line in marker.read_text().splitlines():
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


def comfy_in_process() -> Path:
    """Make the host's ComfyUI importable in this process, set up as `main.py --cpu`
    would (the flag is read when model_management first loads). Returns its folder."""
    root = host_dir() / "ComfyUI"
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import comfy.cli_args
    comfy.cli_args.args.cpu = True
    return root


PACK_NAME = "newbie_pack"


class _LibraryUnderThePack(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`newbie_pack.newbie.*` is the library already imported as `newbie.*`: the pack's
    relative imports and the tests' absolute ones reach the same modules, so nothing is
    imported twice (one CheckpointError class, one set of module globals)."""

    prefix = PACK_NAME + ".newbie"

    def find_spec(self, name, path=None, target=None):
        if name == self.prefix or name.startswith(self.prefix + "."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(spec.name[len(PACK_NAME) + 1:])

    def exec_module(self, module):
        pass  # already executed under its own name


def import_pack():
    """The pack imported in this process as ComfyUI imports a custom node folder (under a
    package name of its own; ComfyUI's `nodes` module takes the plain name). Returns the
    package with its node modules and `comfy_glue` loaded. Needs comfy_in_process() first."""
    if PACK_NAME not in sys.modules:
        sys.meta_path.insert(0, _LibraryUnderThePack())
        spec = importlib.util.spec_from_file_location(PACK_NAME, REPO / "__init__.py",
                                                      submodule_search_locations=[str(REPO)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK_NAME] = module
        spec.loader.exec_module(module)
        importlib.import_module(f"{PACK_NAME}.nodes")  # and with them comfy_glue
    return sys.modules[PACK_NAME]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(RuntimeError):
    pass


@dataclass
class PromptResult:
    """What a posted workflow gave: outputs by node id, or the error."""

    prompt_id: str | None
    status: str                      # "success", "error", "invalid" or "interrupted"
    outputs: dict = field(default_factory=dict)
    error: dict | None = None        # validation: {"error", "node_errors"}; run: exception info
    messages: list = field(default_factory=list)

    def text(self, node_id: str) -> str:
        """The first `text` UI output of a node (e.g. core PreviewAny)."""
        return self.outputs[node_id]["text"][0]

    def refusal(self) -> str:
        """What the user is told when the workflow is refused, whichever way the host
        refuses it: at validation (0.33 checks V3 combo values) or when the node runs
        (0.3.75 does not, so the node itself refuses)."""
        if self.status == "error":
            return self.error["exception_message"]
        if self.status == "invalid":
            return json.dumps(self.error.get("node_errors", self.error))
        raise AssertionError(f"the workflow was not refused: {self.status}")


class ComfyServer:
    def __init__(self, root: Path, host: Path | None = None, extra_args: list[str] = (),
                 models: Path | None = None, other_packs: list[Path] = (),
                 env: dict[str, str] | None = None):
        self.host = host or host_dir()
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.models = models or root / "models"
        self.output = root / "base" / "output"
        self.log_path = root / "server.log"
        self.extra_args = list(extra_args)
        self.other_packs = list(other_packs)  # custom node folders run beside ours
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------
    def _prepare(self):
        base = self.root / "base"
        for sub in ("custom_nodes", "input", "output", "temp", "user"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        # A front end that opens on the canvas: no first-run template browser.
        settings = base / "user" / "default" / "comfy.settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        if not settings.exists():
            settings.write_text(json.dumps({"Comfy.TutorialCompleted": True}))
        for name, folder in ((PACK_DIR_NAME, REPO),
                             *((p.name, p) for p in self.other_packs)):
            link = base / "custom_nodes" / name
            if not link.exists():
                link.symlink_to(folder, target_is_directory=True)
        for sub in MODEL_FOLDERS:
            (self.models / sub).mkdir(parents=True, exist_ok=True)
        yaml = self.root / "extra_model_paths.yaml"
        yaml.write_text("newbie_tests:\n"
                        f"  base_path: {self.models}\n"
                        + "".join(f"  {sub}: {sub}\n" for sub in MODEL_FOLDERS))
        return base, yaml

    def start(self, timeout: float = 180.0) -> "ComfyServer":
        base, yaml = self._prepare()
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DO_NOT_TRACK="1",
                   PYTHONUNBUFFERED="1", **self.env)
        cmd = [str(self.host / "venv" / "bin" / "python"), "main.py", "--cpu",
               "--listen", "127.0.0.1", "--port", str(self.port), "--disable-auto-launch",
               "--disable-api-nodes", "--base-directory", str(base),
               "--extra-model-paths-config", str(yaml),
               "--database-url", "sqlite:///:memory:", *self.extra_args]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.host / "ComfyUI", env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.get_json("/system_stats")
                break
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        else:
            self.stop()
            raise ServerError(f"ComfyUI did not answer within {timeout}s:\n{self.log()}")
        self._check_pack_loaded()
        return self

    def _check_pack_loaded(self):
        log = self.log()
        if "IMPORT FAILED" in log:
            self.stop()
            raise ServerError(f"the pack failed to import:\n{log}")
        info = self.get_json("/object_info")
        if "NewBieXMLPrompt" not in info:
            self.stop()
            raise ServerError(f"NewBie nodes missing from /object_info:\n{log}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        try:
            return "system" in self.get_json("/system_stats")
        except (OSError, urllib.error.URLError):
            return False

    # -- HTTP ------------------------------------------------------------------
    def request(self, path: str, body: dict | None = None, timeout: float = 30.0):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()

    def get_json(self, path: str, timeout: float = 30.0):
        return json.loads(self.request(path, timeout=timeout))

    def view(self, image: dict) -> bytes:
        """The bytes of an image listed in a node's UI output."""
        query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
        return self.request(f"/view?{query}")

    def queue(self, prompt: dict, client_id: str | None = None
              ) -> tuple[str | None, dict | None]:
        """Post an API-format workflow: (prompt_id, None), or the validation error.

        ComfyUI still queues a prompt when some outputs fail validation (it runs the
        others), so any node error counts as invalid here: (prompt_id, error).
        """
        try:
            reply = json.loads(self.request("/prompt", {
                "prompt": prompt, "client_id": client_id or uuid.uuid4().hex}))
        except urllib.error.HTTPError as err:
            return None, json.loads(err.read() or b"{}")
        if reply.get("node_errors"):
            return reply.get("prompt_id"), {"error": "some outputs failed validation",
                                            "node_errors": reply["node_errors"]}
        return reply["prompt_id"], None

    def run(self, prompt: dict, timeout: float = 600.0) -> PromptResult:
        """Post a workflow and wait for its history entry."""
        prompt_id, invalid = self.queue(prompt)
        if invalid is not None:
            if prompt_id:
                self.wait(prompt_id, timeout)  # let the valid part finish first
            return PromptResult(prompt_id, "invalid", error=invalid)
        return self.wait(prompt_id, timeout)

    def run_interrupted(self, prompt: dict, after: float) -> tuple[PromptResult, float]:
        """Queue, interrupt after `after` seconds: (the result, seconds from the interrupt
        to the end)."""
        prompt_id, _ = self.queue(prompt)
        time.sleep(after)
        started = time.monotonic()
        self.request("/interrupt", {})
        result = self.wait(prompt_id, timeout=120)
        return result, time.monotonic() - started

    def run_watched(self, prompt: dict, timeout: float = 600.0):
        """Run over a websocket: (result, JSON messages, binary preview frames)."""
        import websocket

        client_id = uuid.uuid4().hex
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws?clientId={client_id}",
                                         timeout=timeout)
        messages, frames = [], []
        try:
            prompt_id, invalid = self.queue(prompt, client_id)
            if invalid is not None:
                return PromptResult(prompt_id, "invalid", error=invalid), messages, frames
            while True:
                frame = ws.recv()
                if isinstance(frame, bytes):
                    frames.append(frame)
                    continue
                message = json.loads(frame)
                messages.append(message)
                data = message.get("data", {})
                if data.get("prompt_id") == prompt_id and message["type"] in (
                        "execution_success", "execution_error", "execution_interrupted"):
                    break
        finally:
            ws.close()
        return self.wait(prompt_id, timeout), messages, frames

    def wait(self, prompt_id: str, timeout: float = 600.0) -> PromptResult:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and (
                    entry["status"]["completed"] or entry["status"].get("status_str") == "error"):
                return self._result(prompt_id, entry)
            if self.proc.poll() is not None:
                raise ServerError(f"ComfyUI died while running {prompt_id}:\n{self.log()}")
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout}s")

    @staticmethod
    def _result(prompt_id: str, entry: dict) -> PromptResult:
        messages = entry["status"].get("messages", [])
        names = [name for name, _ in messages]
        error = next((data for name, data in messages if name == "execution_error"), None)
        status = ("error" if error else "interrupted" if "execution_interrupted" in names
                  else "success")
        return PromptResult(prompt_id, status, entry.get("outputs", {}), error, messages)
