"""`--ray [ADDRESS]`: run the items of `run` and `sweep` on a Ray cluster.

One actor per GPU of the cluster (one per node where there is no GPU), each owning an embedded ComfyUI started
with this pack from its node's COMFYUI_PATH. Items are tasks on those actors; an actor that dies (its ComfyUI
crashed, its node went away) is restarted by Ray and the item retried there, up to RETRIES times. Only bytes
travel back: the driver writes every output into --out with the same names, report and likeness-run.json as
the local runner, and its progress display shows every worker's events.

Ray is an optional extra (`pip install -r requirements-ray.txt`); nothing else in the pack imports it.
"""
from __future__ import annotations

import copy
import os
import tempfile
import threading
import uuid
from pathlib import Path

from .. import PACK
from ..errors import LikenessError
from . import graph_edit
from .batch import BatchRunner, ItemResult, content_named, fetch_outputs
from .client import ComfyError, ServerUnavailable

RETRIES = 2  # restarts of a dead actor, and retries of the item it was running
SHIP_EXCLUDES = [".git", ".venv", ".cache", ".gpu-carry", "tests", "bench", "*.pyc"]


def import_ray():
    try:
        import ray
    except ImportError:
        raise LikenessError("--ray needs Ray: pip install -r requirements-ray.txt (in the Python that runs "
                            "`python -m likeness`), and the same on every node of the cluster.") from None
    return ray


class Worker:
    """A Ray actor: one embedded ComfyUI on its node, running one item at a time."""

    def __init__(self, comfyui: str | None, comfy_args: list[str]):
        from ..models.installer import find_comfyui
        from .embedded import embedded_comfyui

        found = find_comfyui(comfyui or os.environ.get("COMFYUI_PATH"))
        if found is None:
            raise LikenessError("No ComfyUI on this Ray node: set COMFYUI_PATH there (or pass --comfyui).")
        # its own output and temp folders: two workers on one node never number a file the same (the outputs
        # travel back by /view, so nothing needs to stay there)
        work = Path(tempfile.mkdtemp(prefix="likeness-ray-worker-"))
        self.server = embedded_comfyui(found, [*comfy_args, "--output-directory", str(work / "output"),
                                               "--temp-directory", str(work / "temp")])
        self.server.temp.append(work)
        self.server.die_with_parent = True
        self.server.start()
        self.client = self.server.client
        self.prompt_id: str | None = None

    def node(self) -> str:
        import socket

        return f"{socket.gethostname()}:{self.server.port}"

    def run_item(self, graph: dict, uploads: dict, prompt_id: str, timeout: float, events=None, index: int = 0):
        """Upload the item's images (content-named), run its graph, and return its outputs as bytes."""
        for title, (name, data) in uploads.items():
            graph[graph_edit.find_node(graph, title)]["inputs"]["image"] = self.client.upload_image(data, name)
        self.prompt_id = prompt_id

        def on_event(msg):
            if events is not None:
                try:
                    events.put_nowait((index, msg))
                except Exception:  # a full queue drops progress, never the item
                    pass

        try:
            outputs = self.client.run(graph, on_event, timeout, prompt_id=prompt_id)
        except ServerUnavailable:  # our ComfyUI died: end this actor so Ray restarts it and retries the item
            os._exit(1)
        except ComfyError as e:  # a rejected graph or a failed node travels as text: recorded, never retried
            return {"error": str(e), "interrupted": getattr(e, "interrupted", False)}
        finally:
            self.prompt_id = None
        return {"outputs": fetch_outputs(self.client, graph, outputs), "node": self.node()}

    def missing_models(self, graph: dict, workflow: str) -> str:
        """'' when this node has every model file the graph names, else the installer's message."""
        from .precheck import check_models

        try:
            check_models(graph, self.client, workflow)
        except LikenessError as e:
            return f"Ray node {self.node()}: {e}"
        return ""

    def cancel(self) -> None:
        if self.prompt_id:
            try:
                self.client.cancel(self.prompt_id)
            except ComfyError:
                pass

    def __del__(self):
        server = getattr(self, "server", None)
        if server is not None:
            server.stop()


class RayRunner(BatchRunner):
    """BatchRunner's results, naming, resume and summary; Ray's scheduling, restarts and retries."""

    def __init__(self, job, address: str | None, out_dir, comfyui: str | None, comfy_args: list[str],
                 workers: int | None = None, **kw):
        super().__init__(job, [], out_dir, **kw)
        ray = self.ray = import_ray()
        if not ray.is_initialized():
            # the pack travels to every node with the job: nodes need only ComfyUI, the models and Python deps
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     runtime_env={"working_dir": str(PACK), "excludes": SHIP_EXCLUDES})
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = workers or gpus or len([n for n in ray.nodes() if n.get("Alive")])
        actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES, max_concurrency=2)(Worker)
        options = {"num_gpus": 1} if gpus and not workers else {"num_cpus": 1}
        self.actors = [actor.options(**options).remote(comfyui, comfy_args) for _ in range(count)]
        from ray.util.queue import Queue

        self.events = Queue(maxsize=10000)
        self.uploads: dict[str, tuple[str, bytes]] = {}

    def check_models(self, workflow: str) -> None:
        """Every worker's node must hold the models: all missing files are named before anything is queued."""
        try:
            problems = [p for p in self.ray.get([a.missing_models.remote(self.job.graph, workflow)
                                                 for a in self.actors]) if p]
        except self.ray.exceptions.RayActorError as e:  # its ComfyUI would not start: say why, briefly
            raise LikenessError("A Ray worker could not start its ComfyUI:\n" + _cause(e)) from None
        if problems:
            raise LikenessError("\n".join(dict.fromkeys(problems)))

    def run(self) -> list[ItemResult]:
        ray = self.ray
        running: dict = {}  # future -> (actor, item)
        idle = list(self.actors)
        relay = threading.Thread(target=self._relay, daemon=True)
        relay.start()
        try:
            while (running or (self.pending and idle)) and not self.stopping:  # all workers gone: stop
                while idle and self.pending:
                    item, worker = self.pending.pop(0), idle.pop(0)
                    running[self._submit(worker, item)] = (worker, item)
                done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                for future in done:
                    worker, item = running.pop(future)
                    if self._finish(future, item):
                        idle.append(worker)
        except KeyboardInterrupt:
            self.stop_running(running)
            raise
        finally:
            self.stopping = True
        return self.results

    def _submit(self, worker, item: ItemResult):
        graph, uploads = self._graph(item)
        item.prompt_id = str(uuid.uuid4())  # current ComfyUI accepts only UUIDs
        item.attempts.append("ray")
        return worker.run_item.remote(graph, uploads, item.prompt_id, self.job.timeout, self.events, item.index)

    def _graph(self, item: ItemResult) -> tuple[dict, dict]:
        """The item's graph with its --set values, and its images as (content name, bytes) per Load Image."""
        graph = copy.deepcopy(self.job.graph)
        uploads = {}
        for title, path in self._images(item).items():
            if str(path) not in self.uploads:  # read once per run, whatever the number of items
                self.uploads[str(path)] = content_named(path)
            uploads[title] = self.uploads[str(path)]
        for key, value in item.sets.items():
            graph_edit.assign(graph, f"{key}={value}")
        return graph, uploads

    def _finish(self, future, item: ItemResult) -> bool:
        """Record one item; False when its worker is gone for good (Ray ran out of restarts)."""
        ray = self.ray
        written: list[Path] = []
        alive = True
        item.files, item.texts = [], {}
        try:
            reply = ray.get(future)
            if "error" in reply:
                item.status, item.error = ("interrupted" if reply["interrupted"] else "failed"), reply["error"]
            else:
                item.server = f"ray:{reply['node']}"
                self._store(item, reply["outputs"], written)
                item.status, item.error = "done", ""
        except ray.exceptions.RayActorError as e:
            alive = False
            item.status, item.error = "failed", f"the Ray worker died {RETRIES + 1} times: {e}"
        except (ray.exceptions.RayError, OSError, ComfyError) as e:
            item.status, item.error = "failed", str(e)
        if item.status != "done":
            self._discard(item, written)
        if self.on_done:
            self.on_done(item)
        return alive

    def _relay(self) -> None:
        """Worker progress events into the same progress display as a local run."""
        from ray.util.queue import Empty

        while not self.stopping:
            try:
                index, msg = self.events.get(timeout=0.5)
            except Empty:
                continue
            except Exception:
                return
            if self.on_event:
                self.on_event(self.results[index], msg)

    def stop_running(self, running: dict) -> None:
        """Ctrl-C: every worker cancels its prompt; nothing new starts."""
        self.stopping = True
        for worker, item in running.values():
            worker.cancel.remote()
            item.status, item.error = "pending", "not finished: the run was stopped"

    def stop(self) -> None:
        self.stopping = True


def _cause(error: Exception, lines: int = 25) -> str:
    """The end of the worker's own error (Ray wraps it in its traceback)."""
    text = str(error)
    marker = "LikenessError: "
    return text[text.rfind(marker) + len(marker):] if marker in text else "\n".join(text.splitlines()[-lines:])
