"""Run a ComfyUI server as a child process: start it, wait until it answers, stop it with SIGTERM.

    with embedded_comfyui(comfyui_dir, ["--cpu"]) as server:
        ComfyClient(server.url).run(graph)

`embedded_comfyui` also makes sure this pack is loaded: when no custom_nodes folder that ComfyUI reads (its own,
--base-directory's, those of its extra_model_paths.yaml and of --extra-model-paths-config) holds the pack or a
symlink to it, it is linked in through a temporary extra_model_paths.yaml — never a second time.
`locate_comfyui` finds the ComfyUI to start, also for a pack installed as a symlink.
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


def is_comfyui(folder: Path) -> bool:
    return (folder / "main.py").is_file() and (folder / "comfy").is_dir()


def _flag_values(args, flag: str) -> list[str]:
    """The values a ComfyUI flag is given in `args`: `--flag A B`, `--flag=A`, repeated or not."""
    out, args, i = [], list(args), 0
    while i < len(args):
        if args[i] == flag:
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                out.append(args[i])
                i += 1
            continue
        if args[i].startswith(flag + "="):
            out.append(args[i].split("=", 1)[1])
        i += 1
    return out


def _config_custom_nodes(config: Path) -> list[Path]:
    """The custom_nodes folders an extra_model_paths.yaml adds (read as ComfyUI's utils/extra_config.py reads it)."""
    import yaml

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    out = []
    for conf in data.values() if isinstance(data, dict) else []:
        if not isinstance(conf, dict) or not isinstance(conf.get("custom_nodes"), str):
            continue
        base = conf.get("base_path")
        if base:
            base = Path(os.path.expandvars(os.path.expanduser(str(base))))
            base = base if base.is_absolute() else config.parent / base
        for line in conf["custom_nodes"].split("\n"):
            if line:  # relative to base_path, or else to the yaml's own folder; an absolute path stays
                out.append((base or config.parent) / line)
    return out


def custom_nodes_folders(comfyui: Path, args=()) -> list[Path]:
    """Every folder the ComfyUI at `comfyui`, started with `args`, loads custom nodes from: its own custom_nodes (or
    --base-directory's), and those of its extra_model_paths.yaml and of each --extra-model-paths-config."""
    root = (Path(comfyui) / "main.py").resolve().parent  # ComfyUI finds its own folder through the real path

    def under_root(p: str) -> Path:  # the server runs in its own folder: relative paths start there
        return Path(os.path.expanduser(p)) if os.path.isabs(os.path.expanduser(p)) else root / p

    base = _flag_values(args, "--base-directory")
    folders = [(under_root(base[-1]) if base else root) / "custom_nodes"]
    configs = [root / "extra_model_paths.yaml"] + [under_root(p) for p in _flag_values(args,
                                                                                        "--extra-model-paths-config")]
    for config in configs:
        if config.is_file():
            folders += _config_custom_nodes(config)
    return folders


def _is_pack(path: Path) -> bool:
    try:
        return path.resolve() == PACK or os.path.samefile(path, PACK)
    except (OSError, RuntimeError):  # a broken or looping link
        return False


def pack_loaded_by(comfyui: Path, args=()) -> bool:
    """Whether that ComfyUI loads this pack already: a folder in one of its custom_nodes folders that is the pack
    itself or a link to it (symlinks resolved; `.disabled` folders are not loaded)."""
    for folder in custom_nodes_folders(comfyui, args):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        if any(not p.name.endswith(".disabled") and p.is_dir() and _is_pack(p) for p in entries):
            return True
    return False


def locate_comfyui(explicit: str | None = None, cwd: str | Path | None = None, environ=None,
                   argv0: str | None = None) -> Path | None:
    """The ComfyUI to start: --comfyui; else the one this pack is installed in — the folder above the pack, or,
    for a pack installed as a symlink, a ComfyUI whose custom_nodes links to it, found through the current folder
    as the shell names it ($PWD), the path the command was started by, or the ComfyUI folder we are in; else
    COMFYUI_PATH; else the ComfyUI folder we are in (the pack is linked in for the run)."""
    from ..models.installer import find_comfyui

    if explicit:
        return find_comfyui(explicit)
    environ = os.environ if environ is None else environ
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    argv0 = sys.argv[0] if argv0 is None else argv0
    for folder in PACK.parents:
        if is_comfyui(folder):
            return folder
    candidates = []
    pwd = environ.get("PWD")
    if pwd and os.path.isabs(pwd) and os.path.exists(pwd) and os.path.samefile(pwd, cwd):
        candidates += [Path(pwd), *Path(pwd).parents]
    if argv0:
        candidates += list(Path(os.path.abspath(argv0)).parents)
    candidates.append(cwd)
    for folder in candidates:
        if is_comfyui(folder) and pack_loaded_by(folder):
            return folder
    if environ.get("COMFYUI_PATH") and is_comfyui(Path(environ["COMFYUI_PATH"])):
        return Path(environ["COMFYUI_PATH"])
    return cwd if is_comfyui(cwd) else None


def embedded_comfyui(comfyui: str | Path, args: list[str] = ()) -> ComfyProcess:
    """A ComfyProcess (not started) for `comfyui` that is sure to load this pack."""
    comfyui = Path(comfyui)
    args, work = list(args), None
    if not pack_loaded_by(comfyui, args):  # linked in only where it is not loaded already
        work = Path(tempfile.mkdtemp(prefix="likeness-embedded-"))
        (work / "custom_nodes").mkdir()
        (work / "custom_nodes" / PACK.name).symlink_to(PACK, target_is_directory=True)
        config = work / "extra_model_paths.yaml"
        config.write_text(f"likeness_runner:\n  base_path: {work}\n  custom_nodes: custom_nodes\n")
        args += ["--extra-model-paths-config", str(config)]
    server = ComfyProcess(comfyui, args)
    server.temp += [work] if work else []
    return server
