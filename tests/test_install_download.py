"""install.py against a real HTTP server on loopback: download, resume, checksum refusal, 404, check, dry run."""
from __future__ import annotations

import hashlib
import io
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


class Files(BaseHTTPRequestHandler):
    files = {"/model.bin": PAYLOAD, "/pack.zip": ZIP}
    requests: list[dict] = []
    drop_first_after: int | None = None  # break the first transfer of /model.bin after this many bytes

    def log_message(self, *args):
        pass

    def do_GET(self):
        Files.requests.append({"path": self.path, "range": self.headers.get("Range")})
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
    r = install(tmp_path, man, "--dry-run")
    assert r.returncode == 0 and "would download" in r.stdout
    assert Files.requests == [] and not (tmp_path / "models" / "insightface" / "model.bin").exists()
    install(tmp_path, man)
    r = install(tmp_path, man, "--check")
    assert r.returncode == 0 and "Everything is installed" in r.stdout


def test_shipped_manifest_is_valid_and_covers_every_workflow():
    from likeness.models.registry import WORKFLOWS, for_workflows, load_manifest

    entries = load_manifest()
    for wf in WORKFLOWS:
        assert for_workflows(entries, [wf]), f"{wf} needs no model?"
    assert all(e.licence for e in entries)
    licences = {e.key: e.licence for e in entries}
    assert "non-commercial" in licences["inswapper_128"] and "non-commercial" in licences["buffalo_l"]
    assert licences["gfpgan_1.4"] == "Apache-2.0"
