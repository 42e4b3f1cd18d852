"""Run a ComfyUI server as a child process: start it, wait until it answers, stop it with SIGTERM.

    with embedded_comfyui(comfyui_dir, ["--cpu"]) as server:
        ComfyClient(server.url).run(graph)

`embedded_comfyui` also makes sure this pack is loaded: when the pack does not live in that ComfyUI's
custom_nodes, it is linked in through a temporary extra_model_paths.yaml.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import PACK
from ..errors import LikenessError
from .client import ComfyClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyProcess:
    def __init__(self, comfyui: str | Path, args: list[str] = (), port: int | None = None,
                 log_path: str | Path | None = None):
        self.comfyui = Path(comfyui)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = ComfyClient(self.url, timeout=60)
        self.args = list(args)
        self.temp: list[Path] = []  # removed by stop(): our own log, the embedded server's config folder
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix="comfyui-", suffix=".log")
            os.close(fd)
            self.temp.append(Path(log_path))
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None
        self.die_with_parent = False  # a Ray worker's server must not outlive the worker when it is killed

    def start(self, timeout: float = 300) -> "ComfyProcess":
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> "ComfyProcess":
        if not (self.comfyui / "main.py").is_file():
            raise LikenessError(f"No ComfyUI at {self.comfyui} (main.py not found). Pass --comfyui or set "
                                "COMFYUI_PATH.")
        cmd = [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(self.port), "--disable-auto-launch",
               *self.args]
        with open(self.log_path, "wb") as log:
            # its own session: a Ctrl-C in the terminal reaches the runner, which cancels and then stops it
            self.proc = subprocess.Popen(cmd, cwd=self.comfyui, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
                                         preexec_fn=_die_with_parent if self.die_with_parent else None)
        deadline = time.monotonic() + timeout
        while not self.client.alive():
            if self.proc.poll() is not None:
                raise LikenessError(f"ComfyUI exited with code {self.proc.returncode}:\n{self.log_tail()}"
                                    + self._cpu_hint())
            if time.monotonic() > deadline:
                raise LikenessError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)
        return self

    def _cpu_hint(self) -> str:
        log = self.log_tail(200)
        no_gpu = any(s in log for s in ("Torch not compiled with CUDA", "Found no NVIDIA driver",
                                        "No CUDA GPUs are available", "no CUDA-capable device"))
        return ("\nNo usable CUDA GPU here: add --cpu to run ComfyUI on the CPU."
                if no_gpu and "--cpu" not in self.args else "")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for path in self.temp:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self.temp = []

    def kill(self) -> None:
        """Stop it the hard way (a crash, as far as clients can tell)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "ComfyProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the process that started it dies."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def pack_loaded_by(comfyui: Path) -> bool:
    nodes = comfyui / "custom_nodes"
    return nodes.is_dir() and any(p.resolve() == PACK for p in nodes.iterdir() if p.is_dir())


def embedded_comfyui(comfyui: str | Path, args: list[str] = ()) -> ComfyProcess:
    """A ComfyProcess (not started) for `comfyui` that is sure to load this pack."""
    comfyui = Path(comfyui)
    args, work = list(args), None
    if not pack_loaded_by(comfyui):
        work = Path(tempfile.mkdtemp(prefix="likeness-embedded-"))
        (work / "custom_nodes").mkdir()
        (work / "custom_nodes" / PACK.name).symlink_to(PACK, target_is_directory=True)
        config = work / "extra_model_paths.yaml"
        config.write_text(f"likeness_runner:\n  base_path: {work}\n  custom_nodes: custom_nodes\n")
        args += ["--extra-model-paths-config", str(config)]
    server = ComfyProcess(comfyui, args)
    server.temp += [work] if work else []
    return server
