"""Session fixtures: one real ComfyUI server with the pack loaded, and tiny models in real formats."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from comfy_server import ComfyServer  # noqa: E402

FACES = REPO.parent / "shared" / "faces"


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
    if not FACES.is_dir():
        pytest.skip(f"real test photos not found at {FACES}")
    return FACES
