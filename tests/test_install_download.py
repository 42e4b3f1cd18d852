"""install.py against a real HTTP server on loopback: download, resume, checksum refusal, 404, check, dry run."""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
ZIP = io.BytesIO()
with zipfile.ZipFile(ZIP, "w") as zf:  # nested like antelopev2.zip
    zf.writestr("pack/pack/det.onnx", b"detector")
    zf.writestr("pack/pack/rec.onnx", b"recogniser")
ZIP = ZIP.getvalue()


FILES = {"/model.bin": PAYLOAD, "/pack.zip": ZIP}


class Files(BaseHTTPRequestHandler):
    files = dict(FILES)
    redirects: dict[str, tuple[str, str | None]] = {}  # path -> (location, X-Linked-Etag), like Hugging Face
    requests: list[dict] = []
    drop_first_after: int | None = None  # break the first transfer of /model.bin after this many bytes

    def log_message(self, *args):
        pass

    def do_GET(self):
        Files.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if self.path in self.redirects:
            location, etag = self.redirects[self.path]
            self.send_response(302)
            self.send_header("Location", location)
            if etag:
                self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if Files.drop_first_after is not None and self.path == "/model.bin":
            cut, Files.drop_first_after = Files.drop_first_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection dies mid-transfer
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Files.requests.clear()
    Files.drop_first_after = None
    Files.files, Files.redirects = dict(FILES), {}
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def manifest(tmp_path, url, sha=None, path="/model.bin", **extra):
    entry = {"folder": "insightface", "file": "model.bin", "urls": [url + path], "licence": "test",
             "sha256": sha, "workflows": ["faceswap"], **extra}
    other = {"folder": "vae", "file": "other.bin", "urls": [url + "/model.bin"], "licence": "test",
             "sha256": hashlib.sha256(PAYLOAD).hexdigest(), "workflows": ["character-scene"]}
    path_ = tmp_path / "models.yaml"
    path_.write_text(yaml.safe_dump({"models": {"m": entry, "other": other}}))
    return path_


def install(tmp_path, man, *args):
    cmd = [sys.executable, str(REPO / "install.py"), "--manifest", str(man), "--models-dir",
           str(tmp_path / "models"), "--skip-pip", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_verifies_and_installs(server, tmp_path):
    r = install(tmp_path, manifest(tmp_path, server, SHA), "--workflow", "faceswap")
    assert r.returncode == 0, r.stderr
    dest = tmp_path / "models" / "insightface" / "model.bin"
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("model.bin.partial").exists()
    assert not (tmp_path / "models" / "vae" / "other.bin").exists(), "--workflow must filter"
    # idempotent: a second run downloads nothing
    Files.requests.clear()
    r = install(tmp_path, manifest(tmp_path, server, SHA), "--workflow", "faceswap")
    assert r.returncode == 0 and Files.requests == []


def test_interrupted_transfer_resumes_with_a_range_request(server, tmp_path):
    Files.drop_first_after = 300_000
    man = manifest(tmp_path, server, SHA)
    first = install(tmp_path, man, "--workflow", "faceswap")
    assert first.returncode != 0 and "resume" in first.stderr
    partial = tmp_path / "models" / "insightface" / "model.bin.partial"
    kept = partial.stat().st_size
    assert 0 < kept < len(PAYLOAD)
    assert not (tmp_path / "models" / "insightface" / "model.bin").exists()
    second = install(tmp_path, man, "--workflow", "faceswap")
    assert second.returncode == 0, second.stderr
    assert Files.requests[-1]["range"] == f"bytes={kept}-"
    assert (tmp_path / "models" / "insightface" / "model.bin").read_bytes() == PAYLOAD


def test_wrong_checksum_installs_nothing(server, tmp_path):
    r = install(tmp_path, manifest(tmp_path, server, "0" * 64), "--workflow", "faceswap")
    assert r.returncode != 0 and "checksum mismatch" in r.stderr
    folder = tmp_path / "models" / "insightface"
    assert not (folder / "model.bin").exists() and not (folder / "model.bin.partial").exists()


def test_404_names_the_url(server, tmp_path):
    r = install(tmp_path, manifest(tmp_path, server, SHA, path="/missing.bin"), "--workflow", "faceswap")
    assert r.returncode != 0
    assert f"{server}/missing.bin: HTTP 404" in r.stderr


def test_unverified_entry_needs_explicit_consent(server, tmp_path):
    man = manifest(tmp_path, server, None)
    r = install(tmp_path, man, "--workflow", "faceswap")
    assert r.returncode != 0 and "--allow-unverified" in r.stderr
    assert not (tmp_path / "models" / "insightface" / "model.bin").exists()
    r = install(tmp_path, man, "--workflow", "faceswap", "--allow-unverified")
    assert r.returncode == 0, r.stderr
    lock = (tmp_path / "models" / "likeness-models.lock.json").read_text()
    assert SHA in lock


def test_archive_is_verified_then_extracted_flat(server, tmp_path):
    man = manifest(tmp_path, server, hashlib.sha256(ZIP).hexdigest(), path="/pack.zip", archive="zip",
                   file="models/pack")
    r = install(tmp_path, man, "--workflow", "faceswap")
    assert r.returncode == 0, r.stderr
    pack = tmp_path / "models" / "insightface" / "models" / "pack"
    assert (pack / "det.onnx").read_bytes() == b"detector" and (pack / "rec.onnx").is_file()
    assert not list(pack.parent.glob("*.zip"))


def test_check_and_dry_run_touch_nothing(server, tmp_path):
    man = manifest(tmp_path, server, SHA)
    r = install(tmp_path, man, "--check")
    assert r.returncode == 1 and "MISSING insightface/model.bin" in r.stdout and "2 missing" in r.stdout
    r = install(tmp_path, man, "--all", "--dry-run")
    assert r.returncode == 0 and "would download" in r.stdout
    assert Files.requests == [] and not (tmp_path / "models" / "insightface" / "model.bin").exists()
    install(tmp_path, man, "--all")
    r = install(tmp_path, man, "--check")
    assert r.returncode == 0 and "Everything is installed" in r.stdout


def test_no_arguments_installs_no_model_and_says_how(server, tmp_path):
    r = install(tmp_path, manifest(tmp_path, server, SHA))
    assert r.returncode == 0, r.stderr
    assert "python install.py --workflow faceswap" in r.stdout and "--all" in r.stdout
    assert Files.requests == [] and not (tmp_path / "models").exists()


def test_host_verified_entry_follows_the_redirect_and_is_locked(server, tmp_path):
    Files.redirects["/resolve/model.bin"] = ("/model.bin", SHA)  # Hugging Face: 302 to the CDN, sha in a header
    r = install(tmp_path, manifest(tmp_path, server, "host", path="/resolve/model.bin"), "--workflow", "faceswap")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "models" / "insightface" / "model.bin").read_bytes() == PAYLOAD
    lock = json.loads((tmp_path / "models" / "likeness-models.lock.json").read_text())
    assert lock["insightface/model.bin"] == {"sha256": SHA, "bytes": len(PAYLOAD), "how": "host"}


@pytest.mark.parametrize("pinned", [False, True])
def test_a_file_that_differs_from_what_the_host_announces_is_refused(server, tmp_path, pinned):
    Files.files["/model.bin"] = PAYLOAD[:-1] + b"\x01"  # one byte changed on the CDN
    Files.redirects["/resolve/model.bin"] = ("/model.bin", SHA)
    sha = hashlib.sha256(Files.files["/model.bin"]).hexdigest() if pinned else "host"
    r = install(tmp_path, manifest(tmp_path, server, sha, path="/resolve/model.bin"), "--workflow", "faceswap")
    assert r.returncode != 0 and "checksum mismatch: the host says" in r.stderr, r.stderr
    folder = tmp_path / "models" / "insightface"
    assert not (folder / "model.bin").exists() and not (folder / "model.bin.partial").exists()


def test_host_entry_without_an_announced_sha256_needs_consent(server, tmp_path):
    man = manifest(tmp_path, server, "host")  # served directly: no X-Linked-Etag
    r = install(tmp_path, man, "--workflow", "faceswap")
    assert r.returncode != 0 and "announced no sha256" in r.stderr and "--allow-unverified" in r.stderr
    assert not (tmp_path / "models" / "insightface" / "model.bin").exists()


def test_a_locked_file_that_changed_upstream_is_refused_not_relocked(server, tmp_path):
    man = manifest(tmp_path, server, None)
    assert install(tmp_path, man, "--workflow", "faceswap", "--allow-unverified").returncode == 0
    (tmp_path / "models" / "insightface" / "model.bin").unlink()
    Files.files["/model.bin"] = b"x" + PAYLOAD[1:]
    r = install(tmp_path, man, "--workflow", "faceswap", "--allow-unverified")
    assert r.returncode != 0 and "checksum mismatch" in r.stderr and "likeness-models.lock.json" in r.stderr
    lock = json.loads((tmp_path / "models" / "likeness-models.lock.json").read_text())
    assert lock["insightface/model.bin"]["sha256"] == SHA
    assert not (tmp_path / "models" / "insightface" / "model.bin").exists()


@pytest.mark.parametrize("field,value", [("file", "../../outside.bin"), ("file", "/etc/outside.bin"),
                                         ("folder", "..\\outside"), ("file", "C:/outside.bin")])
def test_a_manifest_path_that_leaves_the_models_folder_is_refused(server, tmp_path, field, value):
    r = install(tmp_path, manifest(tmp_path, server, SHA, **{field: value}), "--workflow", "faceswap")
    assert r.returncode == 2 and "must be a relative path inside the models folder" in r.stderr
    assert Files.requests == [] and not (tmp_path / "outside.bin").exists()


def test_a_symlinked_partial_file_is_not_followed(server, tmp_path):
    folder = tmp_path / "models" / "insightface"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (folder / "model.bin.partial").symlink_to(victim)
    r = install(tmp_path, manifest(tmp_path, server, SHA), "--workflow", "faceswap")
    assert r.returncode != 0 and "symbolic link" in r.stderr
    assert victim.read_text() == "keep me"


def test_check_compares_sizes_and_verify_compares_checksums(server, tmp_path):
    man = manifest(tmp_path, server, SHA, bytes=len(PAYLOAD))
    dest = tmp_path / "models" / "insightface" / "model.bin"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"stand-in")
    r = install(tmp_path, man, "--check", "--workflow", "faceswap")
    assert r.returncode == 1 and "WRONG SIZE insightface/model.bin" in r.stdout
    r = install(tmp_path, man, "--workflow", "faceswap")  # never overwrites it, never calls it installed
    assert r.returncode != 0 and "Move it away" in r.stderr and dest.read_bytes() == b"stand-in"
    dest.write_bytes(PAYLOAD[:-1] + b"\x01")  # same size, one byte changed
    assert install(tmp_path, man, "--check", "--workflow", "faceswap").returncode == 0
    r = install(tmp_path, man, "--check", "--verify", "--workflow", "faceswap")
    assert r.returncode == 1 and "CHANGED insightface/model.bin" in r.stdout


def test_check_verify_holds_an_unverified_file_to_its_lock(server, tmp_path):
    man = manifest(tmp_path, server, None)
    assert install(tmp_path, man, "--workflow", "faceswap", "--allow-unverified").returncode == 0
    args = ("--check", "--verify", "--workflow", "faceswap")
    assert install(tmp_path, man, *args).returncode == 0
    dest = tmp_path / "models" / "insightface" / "model.bin"
    dest.write_bytes(PAYLOAD[:-1] + b"\x01")
    r = install(tmp_path, man, *args)
    assert r.returncode == 1 and "CHANGED" in r.stdout


def test_archive_members_are_checked_before_anything_is_installed(server, tmp_path):
    members = {"det.onnx": {"sha256": hashlib.sha256(b"detector").hexdigest(), "bytes": 8},
               "rec.onnx": {"sha256": hashlib.sha256(b"another recogniser").hexdigest(), "bytes": 10}}
    man = manifest(tmp_path, server, hashlib.sha256(ZIP).hexdigest(), path="/pack.zip", archive="zip",
                   file="models/pack", members=members)
    r = install(tmp_path, man, "--workflow", "faceswap")
    assert r.returncode != 0 and "rec.onnx" in r.stderr
    assert not (tmp_path / "models" / "insightface" / "models" / "pack").exists()
    members["rec.onnx"] = {"sha256": hashlib.sha256(b"recogniser").hexdigest(), "bytes": 10}
    man = manifest(tmp_path, server, hashlib.sha256(ZIP).hexdigest(), path="/pack.zip", archive="zip",
                   file="models/pack", members=members)
    assert install(tmp_path, man, "--workflow", "faceswap").returncode == 0
    assert install(tmp_path, man, "--check", "--verify", "--workflow", "faceswap").returncode == 0
    (tmp_path / "models" / "insightface" / "models" / "pack" / "rec.onnx").write_bytes(b"Recogniser")
    r = install(tmp_path, man, "--check", "--verify", "--workflow", "faceswap")
    assert r.returncode == 1 and "rec.onnx" in r.stdout


@pytest.mark.parametrize("cuda,installed,remove,want", [
    ("12.8", {"onnxruntime"}, ["onnxruntime"], "onnxruntime-gpu>=1.18"),
    ("12.8", {"onnxruntime-gpu"}, [], "onnxruntime-gpu>=1.18"),
    (None, {"onnxruntime-gpu", "numpy"}, ["onnxruntime-gpu"], "onnxruntime>=1.18"),
    (None, set(), [], "onnxruntime>=1.18"),
])
def test_exactly_one_onnxruntime_matching_torchs_cuda(cuda, installed, remove, want):
    from likeness.models.installer import onnxruntime_plan, pip_requirements

    reqs = pip_requirements(REPO / "requirements.txt")
    uninstall, plan = onnxruntime_plan(reqs, installed, cuda)
    assert uninstall == remove
    assert [r for r in plan if r.startswith("onnxruntime")] == [want]
    assert len(plan) == len(reqs)


def test_shipped_manifest_is_valid_and_covers_every_workflow():
    from likeness.models.registry import WORKFLOWS, for_workflows, load_manifest

    entries = load_manifest()
    for wf in WORKFLOWS:
        assert for_workflows(entries, [wf]), f"{wf} needs no model?"
    assert all(e.licence for e in entries)
    licences = {e.key: e.licence for e in entries}
    assert "non-commercial" in licences["inswapper_128"] and "non-commercial" in licences["buffalo_l"]
    assert licences["gfpgan_1.4"] == "Apache-2.0"


def test_every_shipped_model_is_pinned_or_host_verified_and_face_models_are_pinned():
    from likeness.models.registry import load_manifest

    for e in load_manifest():
        assert e.how_verified in ("pinned", "host"), f"{e.key}: no sha256 and not host-verified"
        assert e.size and (e.bytes or e.sha256 == "host"), f"{e.key}: no byte size"
        if e.sha256 == "host":
            assert all("/resolve/" in u and "/resolve/main/" not in u for u in e.urls), \
                f"{e.key}: a host-verified file must come from a fixed revision"
        if e.folder in ("insightface", "facerestore_models", "face_parsing"):
            assert e.pinned, f"{e.key}: face models are pinned"
        if e.archive:
            assert e.members and all(pin.sha256 and pin.bytes for _, pin in e.members), e.key
