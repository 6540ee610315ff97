"""The house rules, read off the code: one boundary around ComfyUI, imports pointing
down only, small files, at most one sys.path edit."""
import ast
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMFY_INTERNALS = ("comfy", "folder_paths", "server", "latent_preview", "execution", "nodes",
                   "comfy_extras", "comfy_execution")


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    return [REPO / name for name in out if (REPO / name).exists()]


def imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in the file; level > 0 for relative ones."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_only_comfy_glue_imports_comfyuis_internals():
    for path in tracked("nodes/*.py", "newbie/*.py", "newbie/**/*.py", "__init__.py"):
        for level, module in imports(path):
            if level == 0:
                assert module.split(".")[0] not in COMFY_INTERNALS, f"{path}: {module}"


def test_layers_import_downwards_only():
    for path in tracked("newbie/*.py", "newbie/**/*.py"):
        for level, module in imports(path):
            top = module.split(".")[0]
            assert top not in ("comfy_api", "comfy_glue", "nodes"), f"{path}: {module}"
            if level > 1 + len(path.relative_to(REPO / "newbie").parts) - 1:
                raise AssertionError(f"{path}: reaches above the library ({'.' * level}{module})")
    for path in tracked("comfy_glue/*.py"):
        for level, module in imports(path):
            assert not (level == 2 and module.startswith("nodes")), f"{path}: {module}"


def test_files_stay_readable_in_a_sitting():
    long = [f"{p.relative_to(REPO)} ({n})" for p in tracked("*.py", "*.js", "*.mjs")
            if (n := len(p.read_text().splitlines())) > 400]
    assert long == []


def test_at_most_one_sys_path_edit():
    edit = re.compile(r"sys\.path\s*(\.insert|\.append|\.extend|\+=|\[[^]]*\]\s*=)")
    edits = [f"{p.relative_to(REPO)}:{i}" for p in tracked("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if edit.search(line) and not line.lstrip().startswith("#")]
    assert len(edits) <= 1, edits


def test_nothing_is_stamped_on_other_objects():
    stamp = re.compile(r"^\s*(?!self\.|cls\.)[A-Za-z_][\w.]*\.newbie\w*\s*=[^=]")
    stamps = [f"{p.relative_to(REPO)}:{i}" for p in tracked("*.py")
              if "tests" not in p.parts
              for i, line in enumerate(p.read_text().splitlines(), 1) if stamp.search(line)]
    assert stamps == []
