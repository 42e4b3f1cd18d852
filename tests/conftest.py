"""Session fixtures: one real ComfyUI server with the pack loaded, and tiny models in real formats."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from comfy_server import ComfyServer  # noqa: E402

@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    """A running ComfyUI (CPU) with ComfyUI-Likeness loaded; `comfy.models_dir` is the folder it reads models from."""
    server = ComfyServer(tmp_path_factory.mktemp("comfyui")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_qwen(comfy):
    """Tiny Qwen-Image DiT/VAE/text encoder/LoRA files placed in the server's models folder; names by role."""
    from fixtures.tiny_qwen import tiny_qwen_files

    return tiny_qwen_files(comfy.models_dir, str(comfy.comfyui))


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """Real face photos from registry packages (tests/photos.py; sources and licences in tests/data/README.md)."""
    import photos

    return photos.folder()


# A clean clone on the CI machine runs every test; a skip is allowed only for what that machine cannot have.
ALLOWED_SKIPS = ("needs ComfyUI", "needs a GPU", "Chromium")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("LIKENESS_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    unexplained = [r for r in skipped if not any(a in str(r.longrepr) for a in ALLOWED_SKIPS)]
    if unexplained:
        reporter.write_line(f"{len(unexplained)} test(s) skipped for a reason CI can meet: "
                            + "; ".join(f"{r.nodeid}: {r.longrepr}" for r in unexplained[:5]), red=True)
        session.exitstatus = 1
