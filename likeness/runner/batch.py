"""Run a job — one graph, one or many items — on one or several ComfyUI servers, and collect what it made.

Each server takes the next item as soon as it is free. When a server stops answering, its item goes back to the
queue for the others, so a dead server loses no work; an item that fails on its own (a bad input, an error in a
node) is reported and not retried. Outputs are downloaded into the out folder as they finish, atomically.
"""
from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..dataset import writer
from ..fileio import atomic_write
from ..models.paths import safe_join
from . import graph_edit
from .client import ComfyClient, ComfyError, ExecutionFailed, ServerUnavailable


@dataclass
class Job:
    graph: dict                                            # API graph with every --set applied
    images: dict[str, Path] = field(default_factory=dict)  # LoadImage title -> local file (uploaded per server)
    items: list[dict[str, str]] = field(default_factory=lambda: [{}])  # per item: {"Title.input": value}
    timeout: float = 3600.0


@dataclass
class ItemResult:
    index: int
    sets: dict
    server: str = ""
    prompt_id: str = ""
    status: str = "pending"                    # done | failed | interrupted | pending (never ran)
    error: str = ""
    files: list[str] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)  # node title -> the text it showed
    attempts: list[str] = field(default_factory=list)          # servers tried


class BatchRunner:
    def __init__(self, job: Job, clients: list[ComfyClient], out_dir: str | Path,
                 on_event: Callable[[ItemResult, dict], None] | None = None,
                 on_done: Callable[[ItemResult], None] | None = None):
        self.job, self.clients, self.out = job, clients, Path(out_dir)
        self.on_event, self.on_done = on_event, on_done
        self.results = [ItemResult(i, sets) for i, sets in enumerate(job.items)]
        self.pending = list(self.results)
        self.running: dict[str, tuple[ComfyClient, str | None]] = {}  # server url -> (client, prompt id once queued)
        self.dead: dict[str, str] = {}
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self._cv = threading.Condition()
        self._files_lock = threading.Lock()

    # -- scheduling --------------------------------------------------------------------------------------------
    def run(self) -> list[ItemResult]:
        self.threads = [threading.Thread(target=self._work, args=(c,), daemon=True) for c in self.clients]
        for t in self.threads:
            t.start()
        for t in self.threads:
            while t.is_alive():
                t.join(0.2)  # short joins keep the main thread responsive to Ctrl-C
        return self.results

    def _next(self, client: ComfyClient) -> ItemResult | None:
        with self._cv:
            while not self.stopping:
                if self.pending:
                    self.running[client.url] = (client, None)  # in flight from now: others wait for it
                    return self.pending.pop(0)
                if not self.running:
                    return None
                self._cv.wait(0.5)  # an item in flight elsewhere may come back
            return None

    def _work(self, client: ComfyClient) -> None:
        uploaded: dict[str, str] = {}
        while (item := self._next(client)) is not None:
            item.attempts.append(client.url)
            try:
                graph = self._prepare(item, client, uploaded)
                prompt_id = str(uuid.uuid4())
                with self._cv:
                    self.running[client.url] = (client, prompt_id)
                item.server, item.prompt_id = client.url, prompt_id
                outputs = client.run(graph, on_event=lambda e: self.on_event and self.on_event(item, e),
                                     timeout=self.job.timeout, prompt_id=prompt_id)
                self._collect(client, graph, outputs, item)
                item.status, item.error = "done", ""
            except ServerUnavailable as e:
                with self._cv:
                    self.dead[client.url] = str(e)
                    self.running.pop(client.url, None)
                    item.status, item.error = "pending", f"{client.url} stopped answering; retrying elsewhere"
                    self.pending.insert(0, item)
                    self._cv.notify_all()
                if self.on_done:
                    self.on_done(item)
                return
            except ExecutionFailed as e:
                item.status, item.error = ("interrupted" if e.interrupted else "failed"), str(e)
            except (ComfyError, graph_edit.WorkflowError, OSError) as e:
                item.status, item.error = "failed", str(e)
            with self._cv:
                self.running.pop(client.url, None)
                self._cv.notify_all()
            if self.on_done:
                self.on_done(item)

    def stop(self) -> None:
        """Ctrl-C: nothing new starts; what runs is cancelled on its server."""
        with self._cv:
            self.stopping = True
            running = list(self.running.values())
            self._cv.notify_all()
        for client, prompt_id in running:
            try:
                if prompt_id:
                    client.cancel(prompt_id)
            except ComfyError:
                pass
        for t in self.threads:
            t.join(30)  # let downloads finish or clean up after themselves

    # -- one item ----------------------------------------------------------------------------------------------
    def _prepare(self, item: ItemResult, client: ComfyClient, uploaded: dict) -> dict:
        graph = copy.deepcopy(self.job.graph)
        for title, path in self.job.images.items():
            if str(path) not in uploaded:
                uploaded[str(path)] = client.upload_image(str(path))
            node = graph[graph_edit.find_node(graph, title)]
            node.setdefault("inputs", {})["image"] = uploaded[str(path)]
        for key, value in item.sets.items():
            graph_edit.assign(graph, f"{key}={value}")
        return graph

    def _collect(self, client: ComfyClient, graph: dict, outputs: dict, item: ItemResult) -> None:
        for node_id, out in outputs.items():
            title = graph_edit.title_of(graph, node_id)
            if out.get("text"):
                item.texts[title] = [str(t) for t in out["text"]]
            for ref in list(out.get("images") or []) + list(out.get("files") or []):
                if ref.get("type", "output") != "output":
                    continue  # previews live in temp/
                dest = self._dest(ref.get("subfolder", ""), ref["filename"])
                atomic_write(dest, client.fetch(ref))
                item.files.append(dest.relative_to(self.out).as_posix())
            for meta in out.get("metadata") or []:
                with self._files_lock:
                    writer.append_metadata(self._dest(meta["subfolder"], writer.METADATA).parent, [meta["record"]])

    def _dest(self, subfolder: str, filename: str) -> Path:
        dest = safe_join(self.out, f"{subfolder}/{filename}" if subfolder else filename)
        if dest is None:
            raise ComfyError(f"refusing to write {subfolder}/{filename} outside {self.out}")
        return dest
