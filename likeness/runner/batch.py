"""Run a job — one graph, one or many items — on one or several ComfyUI servers, and collect what it made.

Each server takes the next item as soon as it is free. A dropped connection or a slow reply is followed up on the
same server (what became of the prompt?); only a server that stops answering is given up, its prompt cancelled and
its item handed to the others, so a dead server loses no work. An item that fails on its own (a bad input, an error
in a node) is reported and not retried, and the files of a failed attempt are removed. Outputs are downloaded into
the out folder atomically, under names unique to their item; items a previous run into the same folder finished
(per its likeness-run.json) are not run again.
"""
from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..dataset import writer
from ..fileio import atomic_write
from ..models.paths import safe_join
from . import graph_edit
from .client import Cancelled, ComfyClient, ComfyError, ExecutionFailed, ServerUnavailable

RECONNECTS = 5                   # connection drops tolerated per item while its server still answers
_COUNTER = re.compile(r"_\d{5}_")  # ComfyUI numbers saved files per server: prefix_00001_.png


def item_subfolder(index: int, subfolder: str, filename: str) -> str:
    """Where an output goes under --out: a server-numbered file into a folder of its item, because every server
    counts from 00001 under the same prefix (an image and its report stay side by side there); content-named files
    (datasets) keep their place."""
    item = f"item{index + 1:05}"
    return "/".join(p for p in (subfolder, item) if p) if _COUNTER.search(filename) else subfolder


def content_named(path: str | Path) -> tuple[str, bytes]:
    """(upload name, bytes) of a local photo, named by its content: two different me.jpg never overwrite each
    other on a server."""
    data = Path(path).read_bytes()
    return f"likeness-{hashlib.sha256(data).hexdigest()[:16]}{Path(path).suffix.lower()}", data


def fetch_outputs(client: ComfyClient, graph: dict, outputs: dict) -> list[dict]:
    """Per output node: its title, the text it showed, its saved files as (subfolder, name, bytes) and its dataset
    records. Runs where the server is (on a Ray worker too), so only bytes travel back."""
    fetched = []
    for node_id, out in outputs.items():
        refs = [r for r in list(out.get("images") or []) + list(out.get("files") or [])
                if r.get("type", "output") == "output"]  # previews live in temp/
        fetched.append({"title": graph_edit.title_of(graph, node_id), "text": [str(t) for t in out.get("text") or []],
                        "files": [(r.get("subfolder", ""), r["filename"], client.fetch(r)) for r in refs],
                        "metadata": list(out.get("metadata") or [])})
    return fetched


@dataclass
class Job:
    graph: dict                                            # API graph with every --set applied
    images: dict[str, Path] = field(default_factory=dict)  # LoadImage title -> local file (uploaded per server)
    items: list[dict[str, str]] = field(default_factory=lambda: [{}])  # per item: {"Title.input": value}
    timeout: float = 3600.0
    item_images: list[dict[str, Path]] = field(default_factory=list)  # per item: more LoadImage title -> file


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
    resumed: bool = False                                      # done by an earlier run into the same folder


class BatchRunner:
    def __init__(self, job: Job, clients: list[ComfyClient], out_dir: str | Path,
                 on_event: Callable[[ItemResult, dict], None] | None = None,
                 on_done: Callable[[ItemResult], None] | None = None, previous: list[dict] | None = None):
        self.job, self.clients, self.out = job, clients, Path(out_dir)
        self.on_event, self.on_done = on_event, on_done
        self.results = [self._resumed(i, sets, previous or []) for i, sets in enumerate(job.items)]
        self.pending = [r for r in self.results if not r.resumed]
        self.running: dict[str, tuple[ComfyClient, str | None]] = {}  # server url -> (client, prompt id once queued)
        self.dead: dict[str, str] = {}
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self._cv = threading.Condition()
        self._files_lock = threading.Lock()

    def _resumed(self, index: int, sets: dict, previous: list[dict]) -> ItemResult:
        """This item as an earlier run left it, if that run finished it and its files are all still here."""
        old = next((r for r in previous if r.get("item") == index), None)
        if (old and old.get("status") == "done" and old.get("sets") == sets
                and all((self.out / f).is_file() for f in old.get("files", []))):
            return ItemResult(index, sets, old.get("server", ""), old.get("prompt_id", ""), "done", "",
                              list(old.get("files", [])), dict(old.get("texts", {})), list(old.get("attempts", [])),
                              resumed=True)
        return ItemResult(index, sets)

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
            item.files, item.texts = [], {}
            written: list[Path] = []
            try:
                graph = self._prepare(item, client, uploaded)
                item.server, item.prompt_id = client.url, str(uuid.uuid4())
                with self._cv:
                    self.running[client.url] = (client, item.prompt_id)
                self._collect(client, graph, self._outputs(client, graph, item), item, written)
                item.status, item.error = "done", ""
            except ServerUnavailable as e:
                self._discard(item, written)
                self._lost(client, item, e)
                return
            except Cancelled:
                item.status, item.error = "pending", "not started: the run was stopped"
            except ExecutionFailed as e:
                item.status, item.error = ("interrupted" if e.interrupted else "failed"), str(e)
            except (ComfyError, graph_edit.WorkflowError, OSError) as e:
                item.status, item.error = "failed", str(e)
            if item.status != "done":
                self._discard(item, written)
            with self._cv:
                self.running.pop(client.url, None)
                self._cv.notify_all()
            if self.on_done:
                self.on_done(item)

    def _outputs(self, client: ComfyClient, graph: dict, item: ItemResult) -> dict:
        """Run the item's prompt and return its outputs. A dropped connection or a read timeout is not a dead
        server: while the server still answers, ask it what became of the prompt and wait for it there (or queue
        it again if it never arrived). Raises ServerUnavailable only when the server stops answering."""
        def on_event(e):
            return self.on_event and self.on_event(item, e)

        queued = False
        for _ in range(RECONNECTS):
            try:
                if queued:
                    return client.wait(item.prompt_id, on_event, self.job.timeout)["outputs"]
                return client.run(graph, on_event, self.job.timeout, prompt_id=item.prompt_id,
                                  may_queue=lambda: not self.stopping)
            except ServerUnavailable:
                if not self._answers(client):
                    raise
                queued = client.knows(item.prompt_id)
        raise ServerUnavailable(f"{client.url} answers but keeps dropping the connection")

    def _answers(self, client: ComfyClient) -> bool:
        for attempt in range(3):
            if client.alive():
                return True
            time.sleep(attempt + 1)
        return False

    def _lost(self, client: ComfyClient, item: ItemResult, error: ServerUnavailable) -> None:
        """The server stopped answering: cancel its prompt if it can still hear us, and hand the item back."""
        try:
            client.cancel(item.prompt_id)
        except ComfyError:
            pass
        with self._cv:
            self.dead[client.url] = str(error)
            self.running.pop(client.url, None)
            others = [c for c in self.clients if c.url not in self.dead]
            item.status = "pending"
            item.error = (f"{client.url} stopped answering; " +
                          ("retrying on another server" if others else "no other server to run it"))
            self.pending.insert(0, item)
            self._cv.notify_all()
        if self.on_done:
            self.on_done(item)

    def _discard(self, item: ItemResult, written: list[Path]) -> None:
        """A failed attempt leaves nothing behind: its files could be half a result."""
        for path in written:
            path.unlink(missing_ok=True)
        item.files = []

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
    def _images(self, item: ItemResult) -> dict[str, Path]:
        """Load Image title -> local file for this item: the job's --image photos and the item's own."""
        return {**self.job.images, **(self.job.item_images[item.index] if self.job.item_images else {})}

    def _prepare(self, item: ItemResult, client: ComfyClient, uploaded: dict) -> dict:
        graph = copy.deepcopy(self.job.graph)
        for title, path in self._images(item).items():
            if str(path) not in uploaded:
                name, data = content_named(path)
                uploaded[str(path)] = client.upload_image(data, name)
            node = graph[graph_edit.find_node(graph, title)]
            node.setdefault("inputs", {})["image"] = uploaded[str(path)]
        for key, value in item.sets.items():
            graph_edit.assign(graph, f"{key}={value}")
        return graph

    def _collect(self, client: ComfyClient, graph: dict, outputs: dict, item: ItemResult,
                 written: list[Path]) -> None:
        self._store(item, fetch_outputs(client, graph, outputs), written)

    def _store(self, item: ItemResult, fetched: list[dict], written: list[Path]) -> None:
        """Write what `fetch_outputs` brought back under --out, named for this item."""
        for out in fetched:
            if out["text"]:
                item.texts[out["title"]] = out["text"]
            for subfolder, filename, data in out["files"]:
                dest = self._dest(item_subfolder(item.index, subfolder, filename), filename)
                atomic_write(dest, data)
                written.append(dest)
                item.files.append(dest.relative_to(self.out).as_posix())
            for meta in out["metadata"]:
                with self._files_lock:
                    writer.append_metadata(self._dest(meta["subfolder"], writer.METADATA).parent, [meta["record"]])

    def _dest(self, subfolder: str, filename: str) -> Path:
        dest = safe_join(self.out, f"{subfolder}/{filename}" if subfolder else filename)
        if dest is None:
            raise ComfyError(f"refusing to write {subfolder}/{filename} outside {self.out}")
        return dest
