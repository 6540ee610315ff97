"""A run writes only to output/temp."""
from pathlib import Path

from devtools.graphs import t2i

REPO = Path(__file__).resolve().parents[2]


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
