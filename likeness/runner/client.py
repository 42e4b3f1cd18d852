"""A small client for ComfyUI's HTTP + WebSocket API, used by the runner and by the tests.

    client = ComfyClient("http://127.0.0.1:8188")
    outputs = client.run(graph, on_event=print)      # queue, follow /ws, return the history outputs
    png = client.fetch(outputs["9"]["images"][0])

Every error carries the server's own message: a rejected prompt lists each node's errors, a failed run names the
node, its type and the exception.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable

Event = dict[str, Any]


class ComfyError(RuntimeError):
    """Base for errors reported by (or about) a ComfyUI server."""


class ServerUnavailable(ComfyError):
    pass


class Cancelled(ComfyError):
    pass


class PromptRejected(ComfyError):
    """The server refused the graph (validation): `error` and `node_errors` are the server's JSON."""

    def __init__(self, error: dict | str | None, node_errors: dict | None):
        self.error, self.node_errors = error, node_errors or {}
        super().__init__(format_rejection(error, self.node_errors))


class ExecutionFailed(ComfyError):
    def __init__(self, message: str, node_id: str | None = None, node_type: str | None = None,
                 interrupted: bool = False):
        self.node_id, self.node_type, self.interrupted = node_id, node_type, interrupted
        where = f"node {node_id} ({node_type})" if node_id else "the graph"
        super().__init__(f"{'Interrupted' if interrupted else 'Failed'} in {where}: {message}")


def format_rejection(error: dict | str | None, node_errors: dict) -> str:
    lines = []
    if isinstance(error, dict):
        lines.append(f"{error.get('message', 'prompt rejected')} {error.get('details', '')}".strip())
    elif error:
        lines.append(str(error))
    for node_id, info in node_errors.items():
        for e in info.get("errors", []):
            lines.append(f"  node {node_id} ({info.get('class_type', '?')}): {e.get('message', '')}"
                         f"{': ' + str(e['details']) if e.get('details') else ''}")
    return "\n".join(lines) or "prompt rejected"


class ComfyClient:
    def __init__(self, url: str, timeout: float = 30.0, client_id: str | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client_id = client_id or uuid.uuid4().hex

    # -- plain HTTP ----------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                 timeout: float | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            raise ServerUnavailable(f"ComfyUI at {self.url} is not reachable ({method} {path}): {e}") from e

    def _json(self, method: str, path: str, payload: Any = None, timeout: float | None = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self._request(method, path, body, {"Content-Type": "application/json"}, timeout)
        if status >= 400:
            raise ComfyError(f"{method} {path} -> HTTP {status}: {data[:500].decode(errors='replace')}")
        return json.loads(data) if data else None

    def alive(self) -> bool:
        try:
            return self._request("GET", "/system_stats", timeout=2)[0] == 200
        except ServerUnavailable:
            return False

    def object_info(self, node_type: str | None = None) -> dict:
        return self._json("GET", "/object_info" + (f"/{urllib.parse.quote(node_type)}" if node_type else ""),
                          timeout=max(self.timeout, 60))

    def history(self, prompt_id: str) -> dict | None:
        return self._json("GET", f"/history/{prompt_id}").get(prompt_id)

    def comfyui_version(self) -> tuple[int, ...]:
        """The server's ComfyUI version, e.g. (0, 3, 75)."""
        text = self._json("GET", "/system_stats")["system"]["comfyui_version"]
        return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())

    def models(self, folder: str) -> list[str]:
        """The files ComfyUI lists in a model folder ('/'-separated, relative to it)."""
        return [n.replace("\\", "/") for n in self._json("GET", f"/models/{urllib.parse.quote(folder)}")]

    def knows(self, prompt_id: str) -> bool:
        """Whether the server has this prompt: finished (in /history), running or waiting (in /queue)."""
        if self.history(prompt_id) is not None:
            return True
        queue = self._json("GET", "/queue")
        return any(len(e) > 1 and e[1] == prompt_id
                   for e in (queue.get("queue_running") or []) + (queue.get("queue_pending") or []))

    def interrupt(self, prompt_id: str | None = None) -> None:
        self._json("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    def cancel(self, prompt_id: str) -> None:
        """Stop a prompt: drop it from the queue if it waits there, interrupt it if it runs."""
        self._json("POST", "/queue", {"delete": [prompt_id]})
        self.interrupt(prompt_id)

    def free(self, unload_models: bool = True) -> None:
        self._json("POST", "/free", {"unload_models": unload_models, "free_memory": True})

    def upload_image(self, image: str | bytes, name: str | None = None, overwrite: bool = True,
                     subfolder: str = "") -> str:
        """Upload a file (path or bytes) to the input folder; returns the name to put into LoadImage."""
        if isinstance(image, str):
            name = name or image.replace("\\", "/").rsplit("/", 1)[-1]
            with open(image, "rb") as f:
                image = f.read()
        name = name or f"upload_{uuid.uuid4().hex[:8]}.png"
        boundary = uuid.uuid4().hex
        fields = [("overwrite", "true" if overwrite else "false"), ("type", "input"), ("subfolder", subfolder)]
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        status, data = self._request("POST", "/upload/image", body,
                                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status != 200:
            raise ComfyError(f"upload of {name} failed: HTTP {status}: {data[:300].decode(errors='replace')}")
        info = json.loads(data)
        return f"{info['subfolder']}/{info['name']}" if info.get("subfolder") else info["name"]

    def fetch(self, file_ref: dict) -> bytes:
        """Bytes of an output file, given an entry of a node's `images` output."""
        query = urllib.parse.urlencode({"filename": file_ref["filename"], "subfolder": file_ref.get("subfolder", ""),
                                        "type": file_ref.get("type", "output")})
        status, data = self._request("GET", f"/view?{query}")
        if status != 200:
            raise ComfyError(f"could not fetch {file_ref.get('filename')}: HTTP {status}")
        return data

    # -- running graphs ------------------------------------------------------------------------------------
    def queue(self, graph: dict, extra_data: dict | None = None, prompt_id: str | None = None) -> str:
        payload = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id or str(uuid.uuid4())}
        if extra_data:
            payload["extra_data"] = extra_data
        status, data = self._request("POST", "/prompt", json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
        try:
            reply = json.loads(data)
        except ValueError:
            raise ComfyError(f"POST /prompt -> HTTP {status}: {data[:300].decode(errors='replace')}") from None
        # a 200 can still carry node_errors: the broken branches would silently not run
        if status != 200 or reply.get("error") or reply.get("node_errors"):
            raise PromptRejected(reply.get("error"), reply.get("node_errors"))
        return reply["prompt_id"]

    def wait(self, prompt_id: str, on_event: Callable[[Event], None] | None = None,
             timeout: float = 600.0) -> dict:
        """Follow a queued prompt to its end; returns its history entry or raises ExecutionFailed."""
        self._follow(prompt_id, on_event, timeout)
        return self._poll_history(prompt_id, timeout)

    def run(self, graph: dict, on_event: Callable[[Event], None] | None = None, timeout: float = 600.0,
            extra_data: dict | None = None, prompt_id: str | None = None,
            may_queue: Callable[[], bool] = lambda: True) -> dict:
        """Queue a graph, wait for it, and return its outputs ({node_id: {"images": [...], ...}}).
        `may_queue` is asked just before the prompt is sent (a runner that is stopping says no)."""
        ws = self._connect_ws()  # connect first so no early event is missed
        try:
            if not may_queue():
                raise Cancelled("stopped before the prompt was queued")
            prompt_id = self.queue(graph, extra_data, prompt_id)
        except BaseException:
            if ws is not None:
                ws.close()
            raise
        self._follow(prompt_id, on_event, timeout, ws)
        return self._poll_history(prompt_id, timeout)["outputs"]

    def _connect_ws(self):
        try:
            import websocket
        except ImportError:
            return None
        ws_url = self.url.replace("http://", "ws://").replace("https://", "wss://")
        try:
            return websocket.create_connection(f"{ws_url}/ws?clientId={self.client_id}", timeout=self.timeout)
        except Exception:
            return None

    def _follow(self, prompt_id: str, on_event, timeout: float, ws=None) -> None:
        """Relay /ws events until the prompt ends; a dropped socket just leaves the rest to /history."""
        ws = ws or self._connect_ws()
        if ws is None:
            return
        try:
            self._follow_ws(ws, prompt_id, on_event, timeout)
        except ComfyError:
            raise
        except Exception:
            pass
        finally:
            ws.close()

    def _follow_ws(self, ws, prompt_id: str, on_event, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw = ws.recv()
            except Exception as e:
                if type(e).__name__ != "WebSocketTimeoutException":
                    raise
                if self._finished(prompt_id):  # quiet socket: maybe it ended before we listened
                    return
                continue
            if not isinstance(raw, str):
                continue  # binary frames are previews
            msg = json.loads(raw)
            data = msg.get("data", {})
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if on_event:
                on_event(msg)
            kind = msg.get("type")
            if kind == "execution_error":
                raise ExecutionFailed(data.get("exception_message", "").strip(), data.get("node_id"),
                                      data.get("node_type"))
            if kind == "execution_interrupted":
                raise ExecutionFailed("interrupted", data.get("node_id"), data.get("node_type"), interrupted=True)
            if kind == "execution_success" or (kind == "executing" and data.get("node") is None
                                               and data.get("prompt_id") == prompt_id):
                return

    def _finished(self, prompt_id: str) -> bool:
        entry = self.history(prompt_id)
        return bool(entry and entry.get("status", {}).get("completed") is not None
                    and entry["status"].get("status_str") in ("success", "error"))

    def _poll_history(self, prompt_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.history(prompt_id)
            status = (entry or {}).get("status", {})
            if entry and status.get("status_str") == "error":
                raise _failure_from_messages(status.get("messages", []))
            if entry and (status.get("completed") or status.get("status_str") == "success"):
                return entry
            time.sleep(0.2)
        raise ComfyError(f"prompt {prompt_id} did not finish within {timeout:.0f} s")


def _failure_from_messages(messages: list) -> ExecutionFailed:
    for kind, data in messages:
        if kind == "execution_error":
            return ExecutionFailed(data.get("exception_message", "").strip(), data.get("node_id"),
                                   data.get("node_type"))
        if kind == "execution_interrupted":
            return ExecutionFailed("interrupted", data.get("node_id"), data.get("node_type"), interrupted=True)
    return ExecutionFailed("the server reported an error without details")
