"""The shipped workflows run end to end through `python -m likeness run`, against live ComfyUI servers with tiny
models: one server, two servers with one killed mid-batch, an embedded server, Ctrl-C, and rejected inputs."""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfy_server import ComfyServer
from fixtures.workflow_lab import SIDE, start_lab, tiny_sets
from likeness.workflows import shipped

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, faces_dir):
    """A server with the tiny Qwen models and the synthetic face models, plus what the runner needs to use it."""
    lab = start_lab(tmp_path_factory.mktemp("runner"), faces_dir)
    yield lab
    lab.server.stop()


def run_cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "likeness", "run", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900, **kw)


def cli_args(lab, name, out, servers=None, extra=()):
    args = [name, "--out", str(out), "--image", f"Reference={lab.reference}"]
    for url in servers if servers is not None else [lab.server.url]:
        args += ["--server", url]
    for s in tiny_sets(lab, name) + list(extra):
        args += ["--set", s]
    return args


def saved_pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png") if "faces" not in p.parts)


@pytest.mark.parametrize("name", ["character-scene", "faceswap", "faceswap-fast"])
def test_workflow_runs_end_to_end_and_brings_back_images_and_the_identity_report(lab, tmp_path, name):
    res = run_cli(cli_args(lab, name, tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    [image] = saved_pngs(tmp_path / "Likeness")
    assert np.array(Image.open(image)).std() > 0
    assert json.loads(Image.open(image).info["prompt"]), "the PNG carries its graph, as Save Image's do"
    [report] = (tmp_path / "Likeness").rglob("*_identity.json")
    assert report.name.replace("_identity.json", "_.png") == image.name, "the report shares the image's number"
    data = json.loads(report.read_text())
    assert data["images"] == 1 and 0.0 <= data["pass_rate"] <= 1.0 and data["backend"] == "buffalo_l"
    assert data["scores"][0]["verdict"] in ("pass", "fail")  # the replay detector always finds the face
    assert data["files"] == [image.name] and (report.parent / data["files"][0]).is_file()
    rows = report.with_suffix(".csv").read_text().splitlines()
    assert rows[1].split(",")[1] == image.name
    summary = json.loads((tmp_path / "likeness-run.json").read_text())
    assert summary["done"] == 1 and summary["results"][0]["server"] == lab.server.url
    assert "kept the identity" in res.stdout + res.stderr  # the pass rate is shown to the user
    if name != "character-scene":
        assert data["scores"][0]["leakage"] is not None  # scored against the image before the swap too


def dataset_checks(out: Path, prompts: list[str]) -> list[dict]:
    folder = out / "Likeness" / "datasets" / "character"
    records = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert sorted(r["caption"] for r in records) == sorted(f"{shipped.TRIGGER}, {p}" for p in prompts)
    for r in records:
        assert (folder / r["file"]).is_file()
        assert (folder / r["file"]).with_suffix(".txt").read_text().strip() == r["caption"]
        crop = np.array(Image.open(folder / r["face_crop"]))
        assert crop.shape[:2] == (1024, 1024)
        assert r["source"] and r["identity"]["backend"] == "buffalo_l" and "Keep the person" in r["prompt"]
    assert len({r["seed"] for r in records}) == len(records)
    return records


def test_dataset_enrichment_batch_over_two_servers_survives_one_dying(lab, tmp_path):
    other = ComfyServer(lab.base / f"b{time.monotonic_ns()}", models_dir=lab.server.models_dir).start()
    prompts = [f"scene number {i}, walking in a park" for i in range(8)]
    (tmp_path / "scenes.txt").write_text("\n".join(prompts) + "\n")
    args = cli_args(lab, "dataset-enrichment", tmp_path / "out", servers=[lab.server.url, other.url],
                    extra=["Identity Gate.if_none_pass=keep best", "Character Scene.steps=4"])
    args += ["--batch", f"Scene.value={tmp_path / 'scenes.txt'}"]
    proc = subprocess.Popen([sys.executable, "-m", "likeness", "run", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    killed = False
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:  # kill the second server mid-item
            if other.client._json("GET", "/queue")["queue_running"]:
                other.kill()
                killed = True
                break
            time.sleep(0.05)
        output, _ = proc.communicate(timeout=600)
    finally:
        other.kill()
    assert killed, "the second server was never seen running an item"
    assert proc.returncode == 0, output
    records = dataset_checks(tmp_path / "out", prompts)
    assert len(records) == 8 and len({r["file"] for r in records}) == 8  # every item once, none overwritten
    summary = json.loads((tmp_path / "out" / "likeness-run.json").read_text())
    retried = [r for r in summary["results"] if len(r["attempts"]) == 2]
    assert retried and all(r["attempts"] == [other.url, lab.server.url] for r in retried), summary
    assert all(r["server"] == lab.server.url for r in retried) and all(r["status"] == "done" for r in summary["results"])
    assert f"server {other.url} was lost" in output


def test_embedded_server_runs_a_workflow_when_no_server_is_given(lab, tmp_path):
    # a server config without the pack: the runner must link the pack in itself
    flags = ComfyServer(tmp_path / "embedded", models_dir=lab.server.models_dir).comfy_args(with_pack=False)
    args = cli_args(lab, "character-scene", tmp_path / "out", servers=[])
    args += ["--comfyui", str(lab.server.comfyui)] + [f"--comfy-arg={f}" for f in flags]
    temp = tmp_path / "tmp"
    temp.mkdir()
    res = run_cli(args, env={**os.environ, "TMPDIR": str(temp)})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "starting ComfyUI" in res.stderr and len(saved_pngs(tmp_path / "out" / "Likeness")) == 1
    ours = list(temp.glob("comfyui-*.log")) + list(temp.glob("likeness-embedded-*"))
    assert ours == [], "the embedded server's log and config folder are left behind"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_cancels_the_running_prompt_and_leaves_no_partial_files(lab, tmp_path, sig):
    args = cli_args(lab, "character-scene", tmp_path, extra=["Character Scene.steps=200", f"Character Scene.seed={sig}",
                                                             "Character Scene.vae_megapixels=0.25"])
    proc = subprocess.Popen([sys.executable, "-m", "likeness", "run", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # wait until the sampler reports its first steps
        seen.append(line)
        if "Character Scene [" in line:
            proc.send_signal(sig)
            break
    rest, _ = proc.communicate(timeout=120)
    output = "".join(seen) + rest
    assert proc.returncode == 130, output
    summary = json.loads((tmp_path / "likeness-run.json").read_text())
    [item] = summary["results"]
    deadline = time.monotonic() + 30
    while (entry := lab.server.client.history(item["prompt_id"])) is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the server files its history just after telling clients
    kinds = [m[0] for m in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds, kinds
    assert not list(tmp_path.rglob("*.partial")) and not saved_pngs(tmp_path)
    assert lab.server.client._json("GET", "/queue")["queue_running"] == []


def test_rejected_inputs_exit_non_zero_with_the_servers_message(lab, tmp_path):
    res = run_cli(cli_args(lab, "character-scene", tmp_path, extra=["Character Scene.denoise=5"]))
    assert res.returncode == 1
    assert "LikenessCharacterScene" in res.stderr and "denoise" in res.stderr and "max" in res.stderr, res.stderr
    res = run_cli(cli_args(lab, "character-scene", tmp_path, extra=["No Such Node.x=1"]))
    assert res.returncode == 2 and "No node titled 'No Such Node'" in res.stderr and "Character Scene" in res.stderr


def test_execution_error_names_the_node_and_exits_non_zero(lab, tmp_path, faces_dir):
    # a photo with no face, as the reference for a scorer that must find one
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((SIDE, SIDE, 3), 90, np.uint8)).save(blank)
    args = cli_args(lab, "character-scene", tmp_path / "out", extra=["Identity Scorer.backend=dlib"])
    args[args.index(f"Reference={lab.reference}")] = f"Reference={blank}"
    res = run_cli(args)
    assert res.returncode == 1
    assert "LikenessIdentityScore" in res.stderr and "No face found in reference" in res.stderr


def test_two_servers_never_overwrite_each_others_outputs_and_a_rerun_resumes(lab, tmp_path):
    other = ComfyServer(lab.base / f"c{time.monotonic_ns()}", models_dir=lab.server.models_dir).start()
    try:
        (tmp_path / "seeds.txt").write_text("1\n2\n3\n4\n")
        args = cli_args(lab, "character-scene", tmp_path / "out", servers=[lab.server.url, other.url])
        args += ["--batch", f"Character Scene.seed={tmp_path / 'seeds.txt'}"]
        res = run_cli(args)
        assert res.returncode == 0, res.stdout + res.stderr
        summary = json.loads((tmp_path / "out" / "likeness-run.json").read_text())
        assert {r["server"] for r in summary["results"]} == {lab.server.url, other.url}  # both took items
        files = [f for r in summary["results"] for f in r["files"]]
        assert len(files) == len(set(files)) == 12  # an image and its report (JSON, CSV) per item, none shared
        pngs = saved_pngs(tmp_path / "out")
        assert len(pngs) == 4 and len({p.read_bytes() for p in pngs}) == 4  # four seeds, four different images
        for r in summary["results"]:
            assert all((tmp_path / "out" / f).is_file() for f in r["files"])
        history = len(lab.server.client._json("GET", "/history")) + len(other.client._json("GET", "/history"))
        again = run_cli(args)
        assert again.returncode == 0 and "4 of 4 item(s) already done" in again.stdout + again.stderr
        assert len(lab.server.client._json("GET", "/history")) + len(other.client._json("GET", "/history")) \
            == history, "a resumed run queued work again"
    finally:
        other.stop()


def test_two_photos_with_one_file_name_reach_their_own_nodes(lab, tmp_path):
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "A"}},
             "2": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "B"}},
             "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "a"}},
             "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "b"}}}
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    photos = {}
    for title, value in (("A", 40), ("B", 200)):
        (tmp_path / title).mkdir()
        photos[title] = tmp_path / title / "me.png"
        Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(photos[title])
    res = run_cli([str(tmp_path / "graph.json"), "--server", lab.server.url, "--out", str(tmp_path / "out"),
                   "--image", f"A={photos['A']}", "--image", f"B={photos['B']}"])
    assert res.returncode == 0, res.stdout + res.stderr
    [a] = (tmp_path / "out").rglob("a_*.png")
    [b] = (tmp_path / "out").rglob("b_*.png")
    assert np.array(Image.open(a))[..., :3].mean() == 40 and np.array(Image.open(b))[..., :3].mean() == 200


class _SlowHistory(BaseHTTPRequestHandler):
    """A loopback proxy to a real ComfyUI that answers the first /history/<id> request too late."""
    target = ""
    stalled = 0

    def log_message(self, *args):
        pass

    def _forward(self, body=None):
        if self.path.startswith("/history/") and _SlowHistory.stalled == 0:
            _SlowHistory.stalled += 1
            time.sleep(3)  # the runner's client gives up after 1 s: a read timeout, the server is fine
        req = urllib.request.Request(self.target + self.path, data=body, method=self.command,
                                     headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, data = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass  # the client already gave up on this reply

    def do_GET(self):
        if self.path.startswith("/ws"):
            self.send_error(404)  # no websocket through this proxy: the client follows /history instead
            return
        self._forward()

    def do_POST(self):
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))


def test_a_read_timeout_waits_for_the_prompt_on_the_same_server_instead_of_running_it_twice(lab, tmp_path):
    from likeness.runner import graph_edit
    from likeness.runner.batch import BatchRunner, Job
    from likeness.runner.client import ComfyClient

    _SlowHistory.target, _SlowHistory.stalled = lab.server.url, 0
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHistory)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        graph = graph_edit.load("character-scene")
        for s in tiny_sets(lab, "character-scene") + ["Character Scene.seed=77"]:
            graph_edit.assign(graph, s)
        client = ComfyClient(f"http://127.0.0.1:{proxy.server_address[1]}", timeout=1)
        before = len(lab.server.client._json("GET", "/history"))
        [item] = BatchRunner(Job(graph, {"Reference": lab.reference}), [client], tmp_path).run()
    finally:
        proxy.shutdown()
    assert _SlowHistory.stalled == 1, "the proxy never stalled a reply"
    assert item.status == "done", item.error
    assert item.attempts == [client.url] and len(item.files) == 3  # image, report JSON and CSV
    assert len(lab.server.client._json("GET", "/history")) == before + 1, "the prompt ran twice"


def test_missing_models_are_all_named_before_anything_is_queued(lab, tmp_path):
    before = len(lab.server.client._json("GET", "/history"))
    res = run_cli(["faceswap-fast", "--server", lab.server.url, "--image", f"Reference={lab.reference}",
                   "--out", str(tmp_path)])  # the shipped model names: only the face models are installed here
    assert res.returncode == 2, res.stdout + res.stderr
    for missing in ("diffusion_models/qwen_image_2512_fp8_e4m3fn.safetensors",
                    "text_encoders/qwen_2.5_vl_7b_fp8_scaled.safetensors", "vae/qwen_image_vae.safetensors",
                    "loras/Qwen-Image-2512-Lightning-4steps-V1.0-bf16.safetensors"):
        assert missing in res.stderr, res.stderr
    for present in ("inswapper_128.onnx", "buffalo_l", "GFPGANv1.4.pth"):
        assert present not in res.stderr
    assert "python install.py --workflow faceswap-fast" in res.stderr
    assert len(lab.server.client._json("GET", "/history")) == before, "something was queued"


def test_bad_arguments_are_caught_before_any_server_starts_or_is_used(lab, tmp_path):
    res = run_cli(["character-scene", "--image", f"Reference={tmp_path / 'nope.jpg'}", "--out", str(tmp_path)])
    assert res.returncode == 2 and "--image Reference=" in res.stderr and "starting ComfyUI" not in res.stderr
    res = run_cli(["character-scene", "--server", "http://127.0.0.1:9", "--image", f"Reference={lab.reference}",
                   "--out", str(tmp_path)])
    assert res.returncode == 2 and "No ComfyUI answers at http://127.0.0.1:9" in res.stderr, res.stderr
    assert "retrying" not in res.stderr


def sweep_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "likeness", "sweep", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900)


def test_sweep_runs_every_combination_records_failures_and_writes_the_matrix(lab, tmp_path):
    out = tmp_path / "sweep"
    args = cli_args(lab, "faceswap-fast", out) + ["--axis", "Face Swap.weight=1.0,0.5", "--seeds", "2",
                                                  "--axis", "Face Swap.target_index=0,5"]  # face 5 does not exist
    res = sweep_cli(args)
    assert res.returncode == 1, res.stdout + res.stderr  # half the combinations fail: recorded, not fatal
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    seed = json.loads((REPO / "workflows" / "api" / "faceswap-fast.json").read_text())
    seed = next(n for n in seed.values() if n["_meta"]["title"] == "Sampler")["inputs"]["seed"]
    assert sorted((r["Face Swap.weight"], r["Face Swap.target_index"], r["seed"], r["verdict"] in ("pass", "fail"))
                  for r in rows) == sorted((w, t, str(seed + k), t == "0") for w in ("1.0", "0.5") for t in "05"
                                           for k in range(2))
    images = [out / r["file"] for r in rows if r["file"]]
    assert len(images) == 4 and len({p.read_bytes() for p in images}) == 4  # 4 cells x seeds, none overwritten
    failed = [r for r in rows if r["Face Swap.target_index"] == "5"]
    assert all(r["verdict"] == "failed" and "only 1 face" in r["error"] for r in failed)
    scored = [r for r in rows if r["verdict"] in ("pass", "fail")]
    assert all((out / r["file"]).is_file() and float(r["similarity"]) > 0 for r in scored)
    md = (out / "sweep.md").read_text()
    assert "## Face Swap.weight" in md and "## Face Swap.weight × Face Swap.target_index" in md
    page = (out / "sweep.html").read_text()
    links = re.findall(r'href="([^"]+)"', page)
    assert links and all((out / link).is_file() for link in links) and "<script" not in page
    assert np.array(Image.open(out / "sweep_face-swap-weight_x_face-swap-target-index.png")).shape[0] > 100
    assert "Face Swap.weight: " in res.stdout and "too few images to tell apart" in res.stdout
    history = len(lab.server.client._json("GET", "/history"))
    again = sweep_cli(args)  # resumes: the done combinations are not queued again, the failed ones are retried
    assert "4 of 8 item(s) already done" in again.stdout + again.stderr
    assert len(lab.server.client._json("GET", "/history")) == history + 4


@pytest.mark.parametrize("axis,message", [
    ("Nope.weight=1", "No node titled 'Nope'"),
    ("Face Swap.nope=1", "has no input 'nope'"),
    ("Face Swap.weight=1,heavy", "value 'heavy': Expected a number"),
    ("Face Swap.weight=", "no values"),
    ("Face Swap.weight=@/no/such/file.txt", "does not exist"),
    ("Face Swap.feather=" + ",".join(str(i / 1000) for i in range(501)), "501 items, more than --max-items 500"),
])
def test_a_bad_sweep_stops_before_anything_is_queued(lab, tmp_path, axis, message):
    history = len(lab.server.client._json("GET", "/history"))
    res = sweep_cli(cli_args(lab, "faceswap-fast", tmp_path) + ["--axis", axis])
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert len(lab.server.client._json("GET", "/history")) == history


def ray_args(lab, tmp_path, out, extra=()):
    flags = ComfyServer(tmp_path / "worker", models_dir=lab.server.models_dir).comfy_args(with_pack=False)
    args = cli_args(lab, "character-scene", out, servers=[]) + ["--ray", "--ray-workers", "2", "--cpu",
                                                                 "--comfyui", str(lab.server.comfyui)]
    return args + [f"--comfy-arg={f}" for f in flags if f != "--cpu"] + list(extra)


def worker_servers() -> list:
    """The ComfyUI processes the Ray workers started (their parent is a Ray actor process)."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if "main.py" in (p.info["cmdline"] or []) and "ray::" in " ".join(p.parent().cmdline()):
                found.append(p)
        except (psutil.Error, AttributeError):
            continue
    return found


def busy(process) -> bool:
    cmd = process.cmdline()
    try:
        url = f"http://127.0.0.1:{cmd[cmd.index('--port') + 1]}/queue"
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(json.loads(r.read()).get("queue_running"))
    except (OSError, ValueError):
        return False


def test_ray_runs_the_batch_on_its_workers_and_retries_an_item_whose_worker_died(lab, tmp_path):
    """A local Ray cluster, two workers each owning a ComfyUI; one worker's ComfyUI is killed mid-batch: Ray
    restarts the worker, the item runs again, and --out holds every item's files as a local run would."""
    (tmp_path / "seeds.txt").write_text("11\n12\n13\n14\n")
    args = ray_args(lab, tmp_path, tmp_path / "out", ["--batch", f"Character Scene.seed={tmp_path / 'seeds.txt'}",
                                                     "--set", "Character Scene.steps=30"])
    proc = subprocess.Popen([sys.executable, "-m", "likeness", "run", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        victim, deadline = None, time.monotonic() + 400
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            victim = next((p for p in worker_servers() if busy(p)), None)  # a worker in the middle of an item
            time.sleep(0.5)
        if victim is None:
            proc.kill()
            raise AssertionError("no Ray worker was seen running an item:\n" + proc.communicate()[0][-3000:])
        victim.kill()
        output, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    summary = json.loads((tmp_path / "out" / "likeness-run.json").read_text())
    assert summary["done"] == 4 and all(r["server"].startswith("ray:") for r in summary["results"])
    files = [f for r in summary["results"] for f in r["files"]]
    assert len(files) == len(set(files)) == 12 and all((tmp_path / "out" / f).is_file() for f in files)
    pngs = saved_pngs(tmp_path / "out")
    assert len(pngs) == 4 and len({p.read_bytes() for p in pngs}) == 4
    assert "kept the identity" in output
    assert worker_servers() == [], "a worker's ComfyUI outlived the run"
    # the same batch through the local runner: per item the same folder, the same image, the same verdicts (file
    # numbers are each server's own counter)
    local = tmp_path / "local"
    args = cli_args(lab, "character-scene", local, extra=["Character Scene.steps=30"])
    res = run_cli(args + ["--batch", f"Character Scene.seed={tmp_path / 'seeds.txt'}"])
    assert res.returncode == 0, res.stdout + res.stderr

    def per_item(root):
        return {p.parent.name: (np.array(Image.open(p)), [s["verdict"] for s in json.loads(
            next(p.parent.glob("*_identity.json")).read_text())["scores"]]) for p in saved_pngs(root)}

    ours, theirs = per_item(tmp_path / "out"), per_item(local)
    assert sorted(ours) == sorted(theirs) == [f"item0000{i}" for i in range(1, 5)]
    for item, (pixels, verdicts) in ours.items():  # Ray gives a worker 1 CPU thread: float sums in another order
        diff = np.abs(pixels.astype(int) - theirs[item][0].astype(int))
        assert diff.mean() < 1.0 and verdicts == theirs[item][1], (item, diff.mean(), diff.max())


def test_ray_without_ray_installed_says_how_to_install_it(lab, tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from likeness.__main__ import main; "
            f"sys.exit(main(['run'] + {ray_args(lab, tmp_path, tmp_path / 'out')!r}))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "pip install -r requirements-ray.txt" in res.stderr, res.stderr


def test_the_matrix_counts_pass_rates_per_value_pair_and_cell():
    from likeness.identity import matrix

    def row(lora, scene, verdict, sim):
        return {"LoRA": lora, "Scene": scene, "verdict": verdict, "similarity": sim, "file": ""}

    table = [row("1.0", "dark", "pass", 0.6), row("1.0", "dark", "fail", 0.3), row("1.0", "bright", "pass", 0.7),
             row("0.5", "dark", "fail", 0.2), row("0.5", "bright", "pass", 0.5), row("0.5", "bright", "no face", 0.0),
             {"LoRA": "0.5", "Scene": "dark", "verdict": "failed", "similarity": None, "file": ""}]
    assert matrix.stats(matrix.group(table, LoRA="1.0")) == {"n": 3, "passed": 2, "rate": 2 / 3,
                                                            "mean": pytest.approx(1.6 / 3), "failed": 0}
    cell = matrix.stats(matrix.group(table, LoRA="0.5", Scene="dark"))
    assert (cell["n"], cell["passed"], cell["failed"]) == (1, 0, 1)  # a failed run is no image: not in the rate
    assert matrix.stats(matrix.group(table, Scene="bright"))["rate"] == pytest.approx(2 / 3)  # no face = not kept
    [lora, scene] = matrix.verdicts(table, ["LoRA", "Scene"])
    assert lora.startswith("LoRA: 1.0: 67% (n=3) vs 0.5: 33% (n=3)") and "too few images" in lora
    assert "| dark | 33% (n=3) | 0.367 | 1 |" in matrix.markdown(table, ["LoRA", "Scene"])


def test_the_starter_sweep_plans_on_the_shipped_workflow():
    from likeness.runner import graph_edit, sweep

    graph = graph_edit.load("character-scene")
    axes = [sweep.parse_axis(f"Character Scene.instruction=@{REPO / 'sweeps' / 'scene-families.txt'}"),
            sweep.parse_axis("Character Scene.denoise=0.6,0.8")]
    items, images, cells = sweep.plan_items(graph, axes, [], "Reference", 3, 500)
    assert len(items) == len(cells) == 8 * 2 * 3 and images == []
    assert len({(c["Character Scene.instruction"], c["Character Scene.denoise"], c["seed"]) for c in cells}) == 48
    assert all(i["Character Scene.seed"] == c["seed"] for i, c in zip(items, cells))


def test_a_batch_stopped_with_ctrl_c_resumes_without_redoing_what_was_finished(lab, tmp_path):
    (tmp_path / "seeds.txt").write_text("21\n22\n23\n")
    out = tmp_path / "out"
    args = cli_args(lab, "character-scene", out) + ["--batch", f"Character Scene.seed={tmp_path / 'seeds.txt'}"]
    proc = subprocess.Popen([sys.executable, "-m", "likeness", "run", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = ""
    for line in proc.stdout:  # the runner says when an item is done
        seen += line
        if "item 1/3 done" in line or "item 2/3 done" in line:
            break
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    output = seen + output
    assert proc.returncode == 130, output
    summary = json.loads((out / "likeness-run.json").read_text())
    done = [r for r in summary["results"] if r["status"] == "done"]
    assert 1 <= len(done) < 3 and all((out / f).is_file() for r in done for f in r["files"])
    kept = {f: (out / f).read_bytes() for r in done for f in r["files"]}
    history = len(lab.server.client._json("GET", "/history"))
    again = run_cli(args)
    assert again.returncode == 0 and f"{len(done)} of 3 item(s) already done" in again.stdout + again.stderr
    assert len(lab.server.client._json("GET", "/history")) == history + 3 - len(done)
    assert all((out / f).read_bytes() == data for f, data in kept.items()), "a finished item was redone"
    assert len(saved_pngs(out)) == 3


def test_a_node_that_fails_on_a_ray_worker_is_recorded_with_comfyuis_message(lab, tmp_path):
    flags = ComfyServer(tmp_path / "worker", models_dir=lab.server.models_dir).comfy_args(with_pack=False)
    args = cli_args(lab, "faceswap-fast", tmp_path / "out", servers=[], extra=["Face Swap.target_index=5"])
    args += ["--ray", "--ray-workers", "1", "--cpu", "--comfyui", str(lab.server.comfyui)]
    res = run_cli(args + [f"--comfy-arg={f}" for f in flags if f != "--cpu"])
    assert res.returncode == 1, res.stdout + res.stderr
    [item] = json.loads((tmp_path / "out" / "likeness-run.json").read_text())["results"]
    assert item["status"] == "failed" and "only 1 face" in item["error"] and item["files"] == []


def test_a_sweep_killed_midway_and_resumed_ends_with_every_row_once(lab, tmp_path):
    out = tmp_path / "sweep"
    args = cli_args(lab, "character-scene", out) + ["--axis", "Character Scene.denoise=0.5,0.7", "--seeds", "2",
                                                    "--axis", "Character Scene.negative=blurry,dark"]
    proc = subprocess.Popen([sys.executable, "-m", "likeness", "sweep", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = ""
    for line in proc.stdout:
        seen += line
        if re.search(r"item [2-6]/8 done", line):
            break
    proc.send_signal(signal.SIGINT)
    seen += proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, seen
    again = sweep_cli(args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"[1-7] of 8 item\(s\) already done", again.stdout + again.stderr)
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and len({(r["Character Scene.denoise"], r["Character Scene.negative"], r["seed"])
                                   for r in rows}) == 8
    files = [out / r["file"] for r in rows]
    assert len(set(files)) == 8 and all(p.is_file() for p in files)
    assert len(saved_pngs(out / "Likeness")) == 8, "no image left twice by the killed run"
