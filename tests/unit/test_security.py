"""Nothing runs remote code or unpickles, and a run writes only to output/temp."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("newbie", "nodes") for p in (REPO / d).rglob("*.py")] + \
    [REPO / "__init__.py"]


def test_no_remote_code_no_pickle_no_downloads_in_the_pack():
    banned = re.compile(r"trust_remote_code\s*=\s*True|torch\.load\(|pickle\.load|"
                        r"hf_hub_download|snapshot_download|urllib\.request|requests\.get")
    hits = [f"{p.relative_to(REPO)}:{n}" for p in SOURCES
            for n, line in enumerate(p.read_text().splitlines(), 1) if banned.search(line)]
    assert hits == []
