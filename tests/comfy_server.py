"""Start a real ComfyUI (CPU) with this pack and the test-only shim loaded, as users run it.

    server = ComfyServer(base_dir).start()     # waits for /object_info, fails loudly if our pack did not import
    server.run(graph)                          # queue through the real HTTP/WS API
    server.stop()                              # SIGTERM to its own PID (kill() for a crash)

Each server gets its own models/input/output/temp folders under base_dir; several can share one models folder.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEST_PACK = Path(__file__).resolve().parent / "comfy_test_pack"
MODEL_FOLDERS = ["diffusion_models", "text_encoders", "vae", "loras", "checkpoints", "insightface", "hyperswap",
                 "reswapper", "facerestore_models", "face_parsing", "face_models", "mediapipe"]

sys.path.insert(0, str(REPO))
from likeness.runner.embedded import ComfyProcess  # noqa: E402


def comfyui_path() -> Path:
    if os.environ.get("COMFYUI_PATH"):
        return Path(os.environ["COMFYUI_PATH"])
    out = subprocess.run([sys.executable, str(REPO / "tests" / "get_comfyui.py")], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


class ComfyServer(ComfyProcess):
    def __init__(self, base_dir: Path, models_dir: Path | None = None, port: int | None = None,
                 frontend_root: Path | None = None):
        self.base = Path(base_dir)
        self.frontend_root = frontend_root  # a comfyui-frontend-package's static folder; None serves no frontend
        self.base.mkdir(parents=True, exist_ok=True)
        self.models_dir = Path(models_dir) if models_dir else self.base / "models"
        self.input_dir, self.output_dir = self.base / "input", self.base / "output"
        super().__init__(comfyui_path(), port=port, log_path=self.base / "comfyui.log")

    # -- lifecycle --------------------------------------------------------------------------------------------
    def write_config(self, with_pack: bool = True) -> Path:
        """extra_model_paths.yaml: the test shim (+ this pack) as custom nodes, and our own models folders."""
        nodes_dir = self.base / "custom_nodes"
        nodes_dir.mkdir(parents=True, exist_ok=True)
        packs = [("ComfyUI-Likeness", REPO)] if with_pack else []
        for name, target in packs + [("likeness_test_shim", TEST_PACK)]:
            link = nodes_dir / name
            if not link.exists():
                link.symlink_to(target, target_is_directory=True)
        for folder in MODEL_FOLDERS:
            (self.models_dir / folder).mkdir(parents=True, exist_ok=True)
        # is_default: these folders come first, so what a node saves (a trained LoRA) lands in the test's folder
        lines = ["likeness_tests:", f"  base_path: {self.base}", "  is_default: true", f"  custom_nodes: {nodes_dir}"]
        lines += [f"  {folder}: {self.models_dir / folder}" for folder in MODEL_FOLDERS]
        config = self.base / "extra_model_paths.yaml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def comfy_args(self, with_pack: bool = True) -> list[str]:
        """The flags a CPU test server runs with (also handed to the runner's embedded server)."""
        frontend = self.frontend_root or self.base / "frontend"
        for d in (frontend, self.input_dir, self.output_dir, self.base / "temp", self.base / "user"):
            d.mkdir(parents=True, exist_ok=True)
        return ["--cpu", "--front-end-root", str(frontend), "--database-url", "sqlite:///:memory:",
                "--extra-model-paths-config", str(self.write_config(with_pack)),
                "--input-directory", str(self.input_dir), "--output-directory", str(self.output_dir),
                "--temp-directory", str(self.base / "temp"), "--user-directory", str(self.base / "user")]

    def start(self, timeout: float = 180) -> "ComfyServer":
        self.args = self.comfy_args()
        super().start(timeout)
        self.check_pack_loaded()
        return self

    def check_pack_loaded(self) -> None:
        log = self.log_path.read_text(errors="replace")
        failed = [line for line in log.splitlines()
                  if ("IMPORT FAILED" in line or "Cannot import" in line)
                  and ("ComfyUI-Likeness" in line or "likeness_test_shim" in line)]
        if failed or "LikenessInfo" not in self.client.object_info():
            self.stop()
            raise RuntimeError("ComfyUI-Likeness did not load:\n" + "\n".join(failed) + "\n" + self.log_tail())

    # -- using it ---------------------------------------------------------------------------------------------
    def version(self) -> tuple[int, ...]:
        return self.client.comfyui_version()

    def require_core_for(self, workflow: str) -> None:
        """Skip, saying which version it needs, a shipped workflow this ComfyUI's core cannot run."""
        import pytest

        from likeness.workflows.shipped import MIN_COMFYUI, version_text

        need = MIN_COMFYUI.get(workflow)
        if need and self.version() < need[0]:
            pytest.skip(f"{workflow} needs ComfyUI {version_text(need[0])}+ ({need[1]})")

    def object_info(self, node_type: str | None = None) -> dict:
        return self.client.object_info(node_type)

    def run(self, graph: dict, timeout: float = 600, on_event=None) -> dict:
        return self.client.run(graph, on_event=on_event, timeout=timeout)

    def upload(self, path: str | Path, name: str | None = None) -> str:
        return self.client.upload_image(str(path), name)

    def images(self, outputs: dict, node_id: str) -> list[np.ndarray]:
        """The PNGs a SaveImage/PreviewImage node wrote, fetched over /view, as uint8 arrays."""
        from PIL import Image

        return [np.array(Image.open(io.BytesIO(self.client.fetch(ref)))) for ref in outputs[node_id]["images"]]
