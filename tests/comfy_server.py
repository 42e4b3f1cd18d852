"""Start a real ComfyUI (CPU) with this pack and the test-only shim loaded, as users run it.

    server = ComfyServer(base_dir).start()     # waits for /object_info, fails loudly if our pack did not import
    server.run(graph)                          # queue through the real HTTP/WS API
    server.stop()                              # SIGTERM to its own PID

Each server gets its own models/input/output/temp folders under base_dir; several can share one models folder.
"""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEST_PACK = Path(__file__).resolve().parent / "comfy_test_pack"
MODEL_FOLDERS = ["diffusion_models", "text_encoders", "vae", "loras", "checkpoints", "insightface", "hyperswap",
                 "reswapper", "facerestore_models", "face_parsing", "face_models"]

sys.path.insert(0, str(REPO))
from likeness.runner.client import ComfyClient  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def comfyui_path() -> Path:
    if os.environ.get("COMFYUI_PATH"):
        return Path(os.environ["COMFYUI_PATH"])
    out = subprocess.run([sys.executable, str(REPO / "tests" / "get_comfyui.py")], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


class ComfyServer:
    def __init__(self, base_dir: Path, models_dir: Path | None = None, port: int | None = None):
        self.base = Path(base_dir)
        self.models_dir = Path(models_dir) if models_dir else self.base / "models"
        self.input_dir, self.output_dir = self.base / "input", self.base / "output"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = ComfyClient(self.url, timeout=60)
        self.log_path = self.base / "comfyui.log"
        self.proc: subprocess.Popen | None = None
        self.comfyui = comfyui_path()

    # -- lifecycle --------------------------------------------------------------------------------------------
    def _write_config(self) -> Path:
        nodes_dir = self.base / "custom_nodes"
        nodes_dir.mkdir(parents=True, exist_ok=True)
        for name, target in (("ComfyUI-Likeness", REPO), ("likeness_test_shim", TEST_PACK)):
            link = nodes_dir / name
            if not link.exists():
                link.symlink_to(target, target_is_directory=True)
        for folder in MODEL_FOLDERS:
            (self.models_dir / folder).mkdir(parents=True, exist_ok=True)
        lines = ["likeness_tests:", f"  base_path: {self.base}", f"  custom_nodes: {nodes_dir}"]
        lines += [f"  {folder}: {self.models_dir / folder}" for folder in MODEL_FOLDERS]
        config = self.base / "extra_model_paths.yaml"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout: float = 180) -> "ComfyServer":
        config = self._write_config()
        frontend = self.base / "frontend"
        for d in (frontend, self.input_dir, self.output_dir, self.base / "temp", self.base / "user"):
            d.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--front-end-root", str(frontend), "--database-url", "sqlite:///:memory:",
               "--disable-auto-launch", "--extra-model-paths-config", str(config),
               "--input-directory", str(self.input_dir), "--output-directory", str(self.output_dir),
               "--temp-directory", str(self.base / "temp"), "--user-directory", str(self.base / "user")]
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.comfyui, stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.client.alive():
                break
            time.sleep(0.5)
        else:
            self.stop()
            raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}")
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

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- using it ---------------------------------------------------------------------------------------------
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
