"""The runner's command line at its edges: started from the ComfyUI folder (`python custom_nodes/ComfyUI-Likeness`
or the `likeness` console script), a pack installed as a symlink found and never linked in twice, no line printed
twice, and a default --out that is new per run and never inside the pack folder, named in the first line."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfy_server import ComfyServer, comfyui_path
from fixtures.workflow_lab import SIDE, start_lab, tiny_sets
from likeness import PACK
from likeness.runner import cli, embedded

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "ComfyUI-Likeness"


# -- helpers ------------------------------------------------------------------------------------------------------
def fake_comfyui(folder: Path, real: Path | None = None) -> Path:
    """A ComfyUI folder. With `real`: a working one that shares the real tree through symlinks, but has its own
    custom_nodes (ComfyUI finds its folder through the real path of its top-level files, which are copied)."""
    folder.mkdir(parents=True)
    (folder / "custom_nodes").mkdir()
    if real is None:
        (folder / "main.py").write_text("")
        (folder / "comfy").mkdir()
        return folder
    for entry in real.iterdir():
        if entry.name in ("custom_nodes", "models", "input", "output", "temp", "user", "extra_model_paths.yaml"):
            continue
        if entry.is_file() and entry.suffix == ".py":
            shutil.copy2(entry, folder / entry.name)
        else:
            (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return folder


def install_as_symlink(comfyui: Path, name: str = PACK_NAME) -> Path:
    link = comfyui / "custom_nodes" / name
    link.symlink_to(REPO, target_is_directory=True)
    return link


def lines_of(res: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]


def no_comfyui_env(**more) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "COMFYUI_PATH"}
    env.update(more)
    return env


# -- default --out ------------------------------------------------------------------------------------------------
def test_default_out_is_new_per_run_in_the_current_folder(tmp_path):
    now = time.mktime((2026, 5, 4, 13, 2, 1, 0, 0, -1))
    out = cli.default_out("character-scene", cwd=tmp_path, now=now)
    assert out == tmp_path / "likeness-output" / "character-scene-20260504-130201"
    out.mkdir(parents=True)  # a second run in the same second gets its own folder
    assert cli.default_out("character-scene", cwd=tmp_path, now=now) == out.with_name(out.name + "-2")
    assert cli.default_out("/some/where/my graph.json", cwd=tmp_path, now=now).name == "my graph-20260504-130201"


def test_default_out_from_a_comfyui_folder_is_its_output_folder(tmp_path):
    root = fake_comfyui(tmp_path / "ComfyUI")
    out = cli.default_out("faceswap", cwd=root, now=0)
    assert out.parent == root / "output" / "likeness" and out.name.startswith("faceswap-")


def test_default_out_is_never_inside_the_pack_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for cwd in (PACK, PACK / "likeness" / "runner"):
        out = cli.default_out("faceswap-fast", cwd=cwd, now=0)
        assert PACK not in out.resolve().parents, out
    # installed as a symlink in a ComfyUI: that ComfyUI's output folder, reached through the link
    root = fake_comfyui(tmp_path / "ComfyUI")
    link = install_as_symlink(root)
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    monkeypatch.setenv("PWD", str(link))
    assert cli.default_out("faceswap-fast", cwd=link, now=0).parent == root / "output" / "likeness"


# -- finding the ComfyUI, a pack installed as a symlink ------------------------------------------------------------
def test_a_pack_installed_as_a_symlink_is_found_and_not_linked_twice(tmp_path):
    root = fake_comfyui(tmp_path / "ComfyUI")
    other = fake_comfyui(tmp_path / "OtherComfyUI")  # COMFYUI_PATH, without the pack
    assert embedded.locate_comfyui(cwd=tmp_path, environ={}, argv0=str(tmp_path / "x")) is None
    assert not embedded.pack_loaded_by(root)
    link = install_as_symlink(root)
    assert embedded.pack_loaded_by(root)
    env = {"COMFYUI_PATH": str(other)}
    # from the ComfyUI folder, by the path of the command (python custom_nodes/ComfyUI-Likeness ...), or from the
    # pack folder reached through the link ($PWD keeps the path the shell took): the ComfyUI the pack is in
    assert embedded.locate_comfyui(cwd=root, environ=env, argv0="likeness") == root
    assert embedded.locate_comfyui(cwd=tmp_path, environ=env, argv0=str(link / "__main__.py")) == root
    assert embedded.locate_comfyui(cwd=REPO / "likeness", environ={**env, "PWD": str(link / "likeness")},
                                   argv0=str(REPO / "likeness" / "__main__.py")) == root
    assert embedded.locate_comfyui(cwd=tmp_path, environ=env, argv0="likeness") == other
    server = embedded.embedded_comfyui(root, ["--cpu"])
    try:
        assert server.args == ["--cpu"], "the pack is in that ComfyUI already: it must not be linked in again"
    finally:
        server.stop()
    # a disabled copy does not count: then it is linked in for the run
    link.rename(link.with_name(PACK_NAME + ".disabled"))
    server = embedded.embedded_comfyui(root, ["--cpu"])
    try:
        assert "--extra-model-paths-config" in server.args
    finally:
        server.stop()


@pytest.mark.parametrize("how", ["root yaml", "config flag", "config flag=", "base directory"])
def test_the_pack_in_any_custom_nodes_folder_comfyui_reads_is_not_linked_again(tmp_path, how):
    root = fake_comfyui(tmp_path / "ComfyUI")
    nodes = tmp_path / "elsewhere" / "custom_nodes"
    nodes.mkdir(parents=True)
    (nodes / "likeness").symlink_to(REPO, target_is_directory=True)
    config = tmp_path / "extra.yaml"
    config.write_text(f"mine:\n  base_path: {tmp_path / 'elsewhere'}\n  custom_nodes: |\n    nowhere\n"
                      "    custom_nodes\n")
    args = {"root yaml": [], "config flag": ["--extra-model-paths-config", str(config)],
            "config flag=": [f"--extra-model-paths-config={config}"],
            "base directory": ["--base-directory", str(tmp_path / "elsewhere")]}[how]
    if how == "root yaml":
        shutil.copy(config, root / "extra_model_paths.yaml")
    assert embedded.pack_loaded_by(root, args)
    server = embedded.embedded_comfyui(root, args)
    try:
        assert server.args == args
    finally:
        server.stop()


# -- the console script --------------------------------------------------------------------------------------------
def test_likeness_console_script_runs_from_the_comfyui_folder(tmp_path):
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["likeness"] == "likeness.__main__:main"
    assert project["tool"]["comfy"]["PublisherId"], "the registry's section must stay"
    # pip install -e of (a copy of) the pack into a fresh venv, as a user would into ComfyUI's
    pack = tmp_path / PACK_NAME
    pack.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, pack / name)
    shutil.copytree(REPO / "likeness", pack / "likeness", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "-e", str(pack)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    root = fake_comfyui(tmp_path / "ComfyUI")
    script = venv / "bin" / "likeness"
    res = subprocess.run([str(script)], cwd=root, capture_output=True, text=True, env=no_comfyui_env())
    assert res.returncode == 2 and "run" in res.stderr and "sweep" in res.stderr, res.stderr
    # the dependencies are the test venv's (installed with --no-deps)
    deps = sysconfig.get_paths()["purelib"]
    res = subprocess.run([str(script), "run", "--help"], cwd=root, capture_output=True, text=True,
                         env=no_comfyui_env(PYTHONPATH=deps))
    assert res.returncode == 0 and "--out" in res.stdout, res.stdout + res.stderr
    res = subprocess.run([str(venv / "bin" / "python"), "-c", "import likeness; print(likeness.PACK)"], cwd=root,
                         capture_output=True, text=True)
    assert Path(res.stdout.strip()) == pack.resolve(), "the engine must run from the pack folder (models.yaml, workflows)"


# -- real runs ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory, faces_dir):
    lab = start_lab(tmp_path_factory.mktemp("cli_edges"), faces_dir)
    yield lab
    lab.server.stop()


def run_args(lab, name: str, extra=()) -> list[str]:
    args = [name, "--image", f"Reference={lab.reference}"]
    for s in tiny_sets(lab, name) + list(extra):
        args += ["--set", s]
    return args


def test_no_line_is_printed_twice_and_the_first_line_says_where(lab, tmp_path):
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "likeness", "run", *run_args(lab, "faceswap-fast"), "--server",
                          lab.server.url, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = lines_of(res)
    assert res.stderr.splitlines()[0] == f"likeness: faceswap-fast -> results in {out}"
    assert len(lines) == len(set(lines)), "\n".join(lines)
    [done] = [line for line in lines if line.startswith("item 1/1 done")]
    assert done.count("kept the identity") == 1, done  # the verdict once, with its details
    assert "buffalo_l, threshold" in done
    # a failing item: its error once
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((SIDE, SIDE, 3), 90, np.uint8)).save(blank)
    args = run_args(lab, "character-scene", ["Identity Scorer.backend=dlib"])
    args[args.index(f"Reference={lab.reference}")] = f"Reference={blank}"
    res = subprocess.run([sys.executable, "-m", "likeness", "run", *args, "--server", lab.server.url, "--out",
                          str(tmp_path / "failed")], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 1
    lines = lines_of(res)
    assert (res.stdout + res.stderr).count("No face found in reference") == 1, res.stdout + res.stderr
    assert len(lines) == len(set(lines)), "\n".join(lines)


def test_run_from_the_comfyui_folder_with_the_pack_linked_in(lab, tmp_path):
    """`python custom_nodes/ComfyUI-Likeness run ...` in a ComfyUI folder whose pack is a symlink, no --server, no
    --comfyui, no COMFYUI_PATH, no --out: that ComfyUI is started with the pack it has, the results land in its
    output folder."""
    root = fake_comfyui(tmp_path / "ComfyUI", comfyui_path())
    install_as_symlink(root)
    flags = ComfyServer(tmp_path / "flags", models_dir=lab.server.models_dir).comfy_args(with_pack=False)
    args = run_args(lab, "character-scene") + [f"--comfy-arg={f}" for f in flags]
    res = subprocess.run([sys.executable, f"custom_nodes/{PACK_NAME}", "run", *args], cwd=root, capture_output=True,
                         text=True, timeout=900, env=no_comfyui_env(PWD=str(root)))
    assert res.returncode == 0, res.stdout + res.stderr
    first = res.stderr.splitlines()[0]
    m = re.fullmatch(r"likeness: character-scene -> results in (.+)", first)
    assert m, res.stderr
    out = Path(m.group(1))
    assert out.parent == root / "output" / "likeness" and re.fullmatch(r"character-scene-\d{8}-\d{6}", out.name)
    assert f"starting ComfyUI from {root}" in res.stderr
    assert len([p for p in out.rglob("*.png") if "faces" not in p.parts]) == 1
    assert (out / "likeness-run.json").is_file()
    lines = lines_of(res)
    assert len(lines) == len(set(lines)), "\n".join(lines)
