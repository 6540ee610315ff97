"""Nothing runs remote code or unpickles, and a run writes only to output/temp."""
import re
from pathlib import Path

from graphs import t2i

REPO = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("newbie", "nodes") for p in (REPO / d).rglob("*.py")] + \
    [REPO / "__init__.py"]


def test_no_remote_code_no_pickle_no_downloads_in_the_pack():
    banned = re.compile(r"trust_remote_code\s*=\s*True|torch\.load\(|pickle\.load|"
                        r"hf_hub_download|snapshot_download|urllib\.request|requests\.get")
    hits = [f"{p.relative_to(REPO)}:{n}" for p in SOURCES
            for n, line in enumerate(p.read_text().splitlines(), 1) if banned.search(line)]
    assert hits == []


def snapshot(root: Path, skip: tuple[str, ...]) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not any(part in skip for part in p.relative_to(root).parts)}


def test_a_run_writes_only_to_output_and_temp(comfy, tiny):
    skip = ("output", "temp", "__pycache__", "server.log", "user", ".pytest_cache")
    root_before = snapshot(comfy.root, skip)
    repo_before = snapshot(REPO, skip + (".git", "out", ".hypothesis"))
    assert comfy.run(t2i(seed=777)).status == "success"
    assert snapshot(comfy.root, skip) == root_before
    assert snapshot(REPO, skip + (".git", "out", ".hypothesis")) == repo_before
