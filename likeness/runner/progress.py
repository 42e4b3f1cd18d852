"""What the runner prints while a graph runs: the node being executed and a bar for its steps, from /ws events."""
from __future__ import annotations

import sys
import threading

from . import graph_edit

BAR = 24


class ProgressPrinter:
    def __init__(self, graph: dict, stream=None, live: bool | None = None, show_item: bool = False):
        self.graph = graph
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live  # redraw one line in a terminal
        self.show_item = show_item
        self._lock = threading.Lock()
        self._last: dict[tuple, int] = {}
        self._open_line = False

    def _prefix(self, item) -> str:
        return f"[{item.index + 1} @ {item.server.rsplit('/', 1)[-1]}] " if self.show_item else ""

    def event(self, item, msg: dict) -> None:
        kind, data = msg.get("type"), msg.get("data", {})
        with self._lock:
            if kind == "executing" and data.get("node") is not None:
                self._line(f"{self._prefix(item)}{graph_edit.title_of(self.graph, data['node'])}")
            elif kind == "progress" and data.get("max"):
                self._progress(item, data)
            elif kind == "execution_cached" and data.get("nodes"):
                self._line(f"{self._prefix(item)}{len(data['nodes'])} node(s) cached from the last run")

    def _progress(self, item, data: dict) -> None:
        value, total = int(data["value"]), int(data["max"])
        title = graph_edit.title_of(self.graph, data.get("node"))
        filled = BAR * value // max(total, 1)
        text = f"{self._prefix(item)}{title} [{'#' * filled}{'.' * (BAR - filled)}] {value}/{total}"
        if self.live:
            self.stream.write("\r" + text)
            self.stream.flush()
            self._open_line = value < total
            if value >= total:
                self.stream.write("\n")
            return
        key = (item.index, data.get("node"))
        quarter = 4 * value // max(total, 1)
        if quarter > self._last.get(key, -1):  # a log gets a line per quarter
            self._last[key] = quarter
            self._line(text)

    def _line(self, text: str) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        with self._lock:
            self._line(text)
