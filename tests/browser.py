"""ComfyUI's own web frontend in headless Chromium (Debian's chromium + chromium-driver), driven from Python.

    static = frontend_static("pinned")           # the comfyui-frontend-package the ComfyUI under test pins
    page = Frontend(server.url, profile_dir)     # opens the app, waits until the graph canvas is up
    page.load(ui_workflow)                       # as a user dropping the file on the canvas
    page.set("Sampler", "steps", 2)              # a widget, found by node title and input name
    prompt = page.to_prompt()                    # app.graphToPrompt(): what the frontend sends to /prompt
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "frontend"
PACKAGE = "comfyui-frontend-package"
# Without the background-networking flags Chromium keeps dialling Google on this closed network.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000"]


def need_chromium() -> None:
    """Skip (fail in CI, where .ci/run installs it) when Chromium or its driver is missing."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    message = "Chromium not installed: apt-get install chromium chromium-driver"
    if os.environ.get("LIKENESS_CHROMIUM") == "required":
        pytest.fail(message)
    pytest.skip(message)


def frontend_version(which: str, comfyui: Path) -> str:
    """'pinned': the version the ComfyUI under test requires; 'newest': the registry's newest release."""
    if which == "pinned":
        found = re.search(rf"^{PACKAGE}==([\w.]+)", (comfyui / "requirements.txt").read_text(), re.M)
        if not found:
            raise RuntimeError(f"{comfyui}/requirements.txt pins no {PACKAGE}")
        return found.group(1)
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", PACKAGE, "--disable-pip-version-check"],
                         capture_output=True, text=True)
    found = re.search(rf"^{PACKAGE} \(([\w.]+)\)", out.stdout, re.M)
    if not found:
        raise RuntimeError(f"could not ask the registry for the newest {PACKAGE}: {out.stderr.strip()}")
    return found.group(1)


def frontend_static(version: str) -> Path:
    """The frontend's static folder (what --front-end-root serves), installed once into .cache/frontend."""
    static = CACHE / version / "comfyui_frontend_package" / "static"
    if not (static / "index.html").is_file():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "--target", str(CACHE / version), f"{PACKAGE}=={version}"], check=True)
    return static


class Frontend:
    def __init__(self, url: str, profile_dir: Path, timeout: float = 60):
        import requests
        from selenium import webdriver

        # a returning user: no first-run template browser, and the missing-model dialog (tiny models stand in
        # for the real files) does not cover the canvas
        requests.post(f"{url}/settings", json={"Comfy.TutorialCompleted": True,
                                               "Comfy.Workflow.ShowMissingModelsWarning": False,
                                               "Comfy.Workflow.ShowMissingNodesWarning": False}, timeout=10)
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}"]:
            options.add_argument(flag)
        options.binary_location = shutil.which("chromium")
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        self.driver.set_script_timeout(timeout)
        self.driver.get(url)
        deadline = time.monotonic() + timeout
        while not self.driver.execute_script("return !!(window.app && app.graph && app.canvas && app.canvas.ds)"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the ComfyUI frontend at {url} did not start:\n{self.console()}")
            time.sleep(0.25)

    def call(self, body: str, *args):
        """Run async JS (`args` are arguments[0..]); its return value comes back through JSON."""
        script = ("const done = arguments[arguments.length - 1]; const args = Array.from(arguments).slice(0, -1);"
                  f"(async () => {{ {body} }})().then(r => done(JSON.stringify({{ok: r === undefined ? null : r}})),"
                  " e => done(JSON.stringify({error: String(e && e.stack || e)})));")
        reply = json.loads(self.driver.execute_async_script(script, *args))
        if "error" in reply:
            raise RuntimeError(f"frontend script failed: {reply['error']}")
        return reply["ok"]

    def load(self, workflow: dict) -> None:
        self.call("await app.loadGraphData(args[0]); app.canvas.setDirty(true, true);"
                  " await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));", workflow)

    def set(self, title: str, name: str, value) -> None:
        self.call("""
            const [title, name, value] = args;
            const node = app.graph._nodes.find(n => n.title === title);
            if (!node) throw new Error(`no node titled ${title}`);
            const widget = (node.widgets || []).find(w => w.name === name);
            if (!widget) throw new Error(`${title} has no widget ${name}`);
            widget.value = typeof widget.value === 'string' ? String(value) : value;  // combos hold strings
            widget.callback?.(value, app.canvas, node);""", title, name, value)

    def to_prompt(self) -> dict:
        """{'output': API graph, 'workflow': UI graph}, exactly as the frontend queues it."""
        return self.call("const p = await app.graphToPrompt(); return {output: p.output, workflow: p.workflow};")

    def console(self) -> str:
        try:
            return "\n".join(e["message"] for e in self.driver.get_log("browser"))[-4000:]
        except Exception:  # the driver may be gone already
            return ""

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        self.driver.quit()
