"""A websocket server in its own process that replays recorded frames to a client over loopback.

Why it exists: ingest and tick-to-trade benchmarks need an exchange that is never the
bottleneck. The simulator is a real exchange (matching, books, hypercorn, wsproto) and costs far
more per frame than any receiver under test; this sender does only what a replay needs, so the
receiver's figures are the receiver's.

How it stays out of the way:

* **Separate process.** It runs as ``python -m tests.performance.sender`` (started by
  :class:`ReplayServer`), so its CPU is not the receiver's GIL; on a 2-core machine the receiver
  gets one core.
* **Frames are pre-built once.** Every server-to-client frame (unmasked text frame, FIN, 7/16/64-bit
  length) is encoded before the first client connects, then joined into large chunks (blast) or
  into bursts of ``burst`` frames (paced). Sending is ``sendall`` of ready bytes; nothing is
  encoded per frame while the clock runs. (The one exception is ``sequence="continuous"`` with
  ``loops > 1``: loops after the first renumber ``sequence_num`` on the fly, a few µs per frame,
  still far below any receiver's cost.)
* **The handshake is done by hand** (HTTP/1.1 Upgrade, ``Sec-WebSocket-Accept``) and no extension
  is ever accepted: no permessage-deflate, whatever the client offers.
* **The client's frames are drained by a reader thread** and counted, never interpreted (only
  pings are answered and a close is echoed). Sending starts only once the client has sent
  ``wait_client_messages`` messages (its subscribe requests) plus ``grace_s``, so a Coinbase
  client that subscribes first sees the frames after its subscriptions, as from the exchange.

Pacing (``mode="paced"``): burst ``k`` is due at ``t0 + k * interval_us``; the sender sleeps
until about 1 ms before the due time, then busy-waits on :func:`time.perf_counter`. The schedule
is absolute: a late burst is sent at once and the next one keeps its own due time (lateness is
reported, never silently absorbed by shifting the schedule).

After the frames: ``close="server"`` sends a close frame (code 1000) and waits for the client's
close (or EOF); ``close="client"`` keeps the connection open and idle until the client closes, so
a receiver can count without racing a close. Connections are served one after another
(``connections``), each with every frame; each served connection gives a
:class:`ConnectionReport`.

Sequence numbers (``sequence``): ``"as_recorded"`` sends the frames byte for byte, so every
connection sees the capture's own ``sequence_num`` (from 0, continuous for one connection, which
is what a client expects from a new connection). With ``loops > 1``, ``"continuous"`` adds
``loop * (max recorded sequence_num + 1)`` to every later loop's numbers, so a client that checks
sequence numbers sees one gapless stream.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, Self

import attrs

__all__ = [
    "ConnectionReport",
    "ReplayConfig",
    "ReplayServer",
    "encode_frame",
    "read_frames_file",
    "write_frames_file",
]

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HANDSHAKE: Final = 64 * 1024
_KEEP_CLIENT_TEXTS: Final = 16
_SEQUENCE_RE: Final = re.compile(rb'("sequence_num"\s*:\s*)(\d+)')
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]

Mode = Literal["blast", "paced"]
CloseMode = Literal["server", "client"]
SequenceMode = Literal["as_recorded", "continuous"]


# --------------------------------------------------------------------------------------------
# Wire format


def encode_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One unmasked server-to-client frame with FIN set (RFC 6455 §5.2)."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def close_frame(code: int = 1000, reason: bytes = b"") -> bytes:
    return encode_frame(struct.pack("!H", code) + reason, OP_CLOSE)


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _WS_GUID).digest()).decode()


def write_frames_file(frames: Iterable[str], path: Path) -> int:
    """Write frames as length-prefixed UTF-8 records (4-byte big-endian length); returns the count.

    Length prefixes rather than lines: a frame is opaque text, and nothing here should depend on
    it being single-line JSON.
    """
    count = 0
    with path.open("wb") as out:
        for frame in frames:
            data = frame.encode()
            out.write(struct.pack("!I", len(data)))
            out.write(data)
            count += 1
    return count


def read_frames_file(path: Path) -> list[bytes]:
    data = path.read_bytes()
    payloads: list[bytes] = []
    pos = 0
    end = len(data)
    while pos < end:
        (n,) = struct.unpack_from("!I", data, pos)
        pos += 4
        if pos + n > end:
            raise ValueError(f"{path}: truncated frame record at byte {pos - 4}")
        payloads.append(data[pos : pos + n])
        pos += n
    return payloads


# --------------------------------------------------------------------------------------------
# Configuration and reports (shared by the parent and the child, as JSON)


@attrs.frozen(kw_only=True)
class ReplayConfig:
    """How to replay. See the module docstring for what each mode means."""

    mode: Mode = "blast"
    interval_us: float = 1000.0
    """Paced: time between the starts of two bursts."""
    burst: int = 1
    """Paced: frames per burst (sent with one ``sendall``)."""
    loops: int = 1
    """How many times the whole frame list is sent on each connection."""
    connections: int | None = 1
    """Connections to serve one after another; ``None`` serves until stopped."""
    wait_client_messages: int = 1
    """Client messages (subscribe requests) to receive before sending anything."""
    grace_s: float = 0.0
    """Extra wait after those messages, for clients that subscribe in several messages."""
    wait_timeout_s: float = 30.0
    """Give up on a connection whose client never sends ``wait_client_messages`` messages."""
    close: CloseMode = "server"
    """After the frames: ``"server"`` sends a close frame (1000); ``"client"`` stays open and
    idle until the client closes."""
    sequence: SequenceMode = "as_recorded"
    """``"continuous"``: later loops continue the recorded ``sequence_num`` (see above)."""
    chunk_bytes: int = 256 * 1024
    """Blast: frames are joined into chunks of about this size, one ``sendall`` each."""

    def __attrs_post_init__(self) -> None:
        if self.mode not in ("blast", "paced"):
            raise ValueError(f"mode must be 'blast' or 'paced', not {self.mode!r}")
        if self.close not in ("server", "client"):
            raise ValueError(f"close must be 'server' or 'client', not {self.close!r}")
        if self.sequence not in ("as_recorded", "continuous"):
            raise ValueError(f"unknown sequence mode {self.sequence!r}")
        if self.interval_us <= 0 or self.burst < 1 or self.loops < 1 or self.chunk_bytes < 1:
            raise ValueError("interval_us, burst, loops and chunk_bytes must be positive")
        if self.connections is not None and self.connections < 1:
            raise ValueError("connections must be positive (or None: until stopped)")
        if self.wait_client_messages < 0 or self.grace_s < 0:
            raise ValueError("wait_client_messages and grace_s must not be negative")


@attrs.frozen(kw_only=True)
class ConnectionReport:
    """What the sender did on one connection (written by the child as one JSON line)."""

    connection: int
    frames_sent: int
    bytes_sent: int
    client_messages: int
    """Data messages (text/binary) the client sent: its subscribe requests, at least."""
    client_texts: tuple[str, ...]
    """The first few client text messages, for diagnostics."""
    send_started_at: float
    """:func:`time.perf_counter` in the sender just before the first frame went out (0.0 if
    none did). On Linux that is ``CLOCK_MONOTONIC``, one clock for every process of the
    machine, so a receiver can time its window from it with its own ``perf_counter``."""
    send_seconds: float
    """From the first byte of the first frame to the return of the last ``sendall``."""
    late_bursts: int
    """Paced: bursts sent more than one interval after their due time."""
    max_lateness_us: float
    closed_by: Literal["server", "client", "eof", "none"]
    error: str | None

    def as_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, line: str) -> ConnectionReport:
        data = json.loads(line)
        data["client_texts"] = tuple(data["client_texts"])
        return cls(**data)


# --------------------------------------------------------------------------------------------
# The child: one connection at a time


class _ClientReader(threading.Thread):
    """Drains the client's frames, counts data messages, answers pings, echoes a close."""

    def __init__(self, sock: socket.socket, write_lock: threading.Lock, initial: bytes) -> None:
        super().__init__(name="client-reader", daemon=True)
        self._sock = sock
        self._write_lock = write_lock
        self._buffer = bytearray(initial)
        self.cond = threading.Condition()
        self.messages = 0
        self.texts: list[str] = []
        self.closed_by: Literal["server", "client", "eof", "none"] = "none"
        """Who started the closing handshake ("eof": the TCP stream ended without one)."""
        self.server_close_sent = False
        self.done = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._parse()
            while self.closed_by == "none":
                try:
                    data = self._sock.recv(65536)
                except OSError as exc:
                    self.error = f"recv: {exc!r}"
                    data = b""
                if not data:
                    self.closed_by = "eof"
                    break
                self._buffer += data
                self._parse()
        finally:
            with self.cond:
                self.done.set()
                self.cond.notify_all()

    def _parse(self) -> None:
        buf = self._buffer
        while len(buf) >= 2 and self.closed_by == "none":
            b0, b1 = buf[0], buf[1]
            opcode = b0 & 0x0F
            masked = b1 & 0x80
            n = b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                (n,) = struct.unpack_from("!H", buf, 2)
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                (n,) = struct.unpack_from("!Q", buf, 2)
                pos = 10
            mask = b""
            if masked:
                if len(buf) < pos + 4:
                    return
                mask = bytes(buf[pos : pos + 4])
                pos += 4
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            if mask:
                payload = _unmask(payload, mask)
            self._on_frame(opcode, payload)

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            with self.cond:
                self.messages += 1
                if opcode == OP_TEXT and len(self.texts) < _KEEP_CLIENT_TEXTS:
                    self.texts.append(payload.decode("utf-8", "replace"))
                self.cond.notify_all()
        elif opcode == OP_PING:
            self._send(encode_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            with self._write_lock:
                if self.server_close_sent:  # the client's answer to our close
                    self.closed_by = "server"
                else:
                    self.closed_by = "client"
                    self.server_close_sent = True
                    self._send_locked(encode_frame(payload[:2], OP_CLOSE))

    def _send(self, data: bytes) -> None:
        with self._write_lock:
            self._send_locked(data)

    def _send_locked(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.error = f"send from reader: {exc!r}"

    def wait_messages(self, count: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.messages >= count or self.done.is_set(), timeout)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def _read_handshake(sock: socket.socket) -> tuple[str, bytes]:
    """Read the client's HTTP Upgrade request; return its key and any bytes already past it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("client closed during the handshake")
        data += chunk
        if len(data) > _MAX_HANDSHAKE:
            raise ConnectionError("handshake request too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("GET "):
        raise ConnectionError(f"not a websocket upgrade: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    key = headers.get("sec-websocket-key")
    if key is None:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        raise ConnectionError("no Sec-WebSocket-Key")
    return key, rest


class _Frames:
    """The pre-built wire bytes of one replay: chunks (blast) or bursts (paced)."""

    def __init__(self, payloads: Sequence[bytes], config: ReplayConfig) -> None:
        self.config = config
        self.payloads = payloads
        self.units: list[bytes] = []
        """Each unit goes out with one ``sendall``."""
        self.unit_frames: list[int] = []
        """How many frames each unit holds."""
        for start, stop in self._spans([len(p) for p in payloads]):
            self.units.append(b"".join(encode_frame(p) for p in payloads[start:stop]))
            self.unit_frames.append(stop - start)
        found = (m for p in payloads if (m := _SEQUENCE_RE.search(p)) is not None)
        self.sequence_period = max((int(m.group(2)) for m in found), default=-1) + 1

    def _spans(self, sizes: list[int]) -> Iterator[tuple[int, int]]:
        if self.config.mode == "paced":
            b = self.config.burst
            for start in range(0, len(sizes), b):
                yield start, min(start + b, len(sizes))
            return
        start = total = 0
        for i, size in enumerate(sizes):
            total += size + 10
            if total >= self.config.chunk_bytes:
                yield start, i + 1
                start, total = i + 1, 0
        if start < len(sizes):
            yield start, len(sizes)

    def for_loop(self, loop: int) -> Iterator[bytes]:
        """The units of one loop: pre-built, or renumbered on the fly for continuous sequences."""
        if loop == 0 or self.config.sequence == "as_recorded" or self.sequence_period == 0:
            yield from self.units
            return
        offset = loop * self.sequence_period

        def shift(m: re.Match[bytes]) -> bytes:
            return m.group(1) + str(int(m.group(2)) + offset).encode()

        pos = 0
        for n in self.unit_frames:
            batch = self.payloads[pos : pos + n]
            yield b"".join(encode_frame(_SEQUENCE_RE.sub(shift, p, count=1)) for p in batch)
            pos += n


def _serve_one(index: int, conn: socket.socket, frames: _Frames) -> ConnectionReport:
    config = frames.config
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    write_lock = threading.Lock()
    frames_sent = bytes_sent = 0
    late = 0
    max_late = 0.0
    send_seconds = t0 = 0.0
    error: str | None = None
    reader: _ClientReader | None = None
    try:
        key, rest = _read_handshake(conn)
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
        )
        reader = _ClientReader(conn, write_lock, rest)
        reader.start()
        if not reader.wait_messages(config.wait_client_messages, config.wait_timeout_s):
            raise TimeoutError(
                f"the client sent {reader.messages} messages in {config.wait_timeout_s} s, "
                f"expected {config.wait_client_messages} (its subscribe requests)"
            )
        if config.grace_s:
            time.sleep(config.grace_s)
        interval = config.interval_us / 1e6
        paced = config.mode == "paced"
        t0 = time.perf_counter()
        k = 0
        for loop in range(config.loops):
            for unit, n in zip(frames.for_loop(loop), frames.unit_frames, strict=True):
                if reader.closed_by != "none":
                    raise ConnectionError(f"the client closed after {frames_sent} frames")
                if paced:
                    due = t0 + k * interval
                    now = time.perf_counter()
                    if due - now > 0.0015:
                        time.sleep(due - now - 0.001)
                    while (now := time.perf_counter()) < due:
                        pass
                    lateness = now - due
                    if lateness > interval:
                        late += 1
                    max_late = max(max_late, lateness)
                    k += 1
                with write_lock:
                    conn.sendall(unit)
                frames_sent += n
                bytes_sent += len(unit)
        send_seconds = time.perf_counter() - t0
        if config.close == "server":
            with write_lock:
                if not reader.server_close_sent:
                    reader.server_close_sent = True
                    conn.sendall(close_frame(1000))
            reader.done.wait(10.0)
        else:
            reader.done.wait()
    except OSError as exc:  # includes TimeoutError and ConnectionError
        error = repr(exc)
    finally:
        with contextlib.suppress(OSError):  # the client may be gone already
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()
        if reader is not None:
            reader.join(5.0)
    if reader is not None:
        error = error or reader.error
    return ConnectionReport(
        connection=index,
        frames_sent=frames_sent,
        bytes_sent=bytes_sent,
        client_messages=reader.messages if reader else 0,
        client_texts=tuple(reader.texts) if reader else (),
        send_started_at=t0,
        send_seconds=send_seconds,
        late_bursts=late,
        max_lateness_us=max_late * 1e6,
        closed_by=reader.closed_by if reader else "none",
        error=error,
    )


def serve(frames_path: Path, config: ReplayConfig, *, port: int = 0, out: IO[str]) -> None:
    """Child entry point: pre-build, listen, report the port, serve connections in turn."""
    frames = _Frames(read_frames_file(frames_path), config)
    gc.collect()
    gc.freeze()
    gc.disable()
    with socket.create_server(("127.0.0.1", port), backlog=16) as listener:
        print(f"PORT {listener.getsockname()[1]}", file=out, flush=True)
        index = 0
        while config.connections is None or index < config.connections:
            conn, _ = listener.accept()
            report = _serve_one(index, conn, frames)
            print(f"REPORT {report.as_json()}", file=out, flush=True)
            index += 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("frames", type=Path, help="length-prefixed frames file")
    parser.add_argument("--config", required=True, help="ReplayConfig as JSON")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    config = ReplayConfig(**json.loads(args.config))
    serve(args.frames, config, port=args.port, out=sys.stdout)


# --------------------------------------------------------------------------------------------
# The parent side


class ReplayServer:
    """Run a replay sender in a child process; a context manager (``stop`` always kills it).

    ``frames`` is the list of JSON texts to send, or the path of a file written by
    :func:`write_frames_file` (write a big capture once and reuse it across servers). Other
    keyword arguments are :class:`ReplayConfig` fields.

    ::

        with ReplayServer(capture.frames, mode="blast") as server:
            ...connect to server.url...
            [report] = server.wait_reports(1, timeout=60)
    """

    def __init__(
        self,
        frames: Sequence[str] | Path,
        *,
        workdir: Path | None = None,
        start_timeout_s: float = 60.0,
        **config: Any,
    ) -> None:
        self.config = ReplayConfig(**config)  # attrs checks names and values
        self._frames = frames
        self._workdir = workdir
        self._start_timeout = start_timeout_s
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr_path: Path | None = None
        self._port: int | None = None
        self._reports: list[ConnectionReport] = []
        self._cond = threading.Condition()
        self._stdout_thread: threading.Thread | None = None
        self._stdout_done = False

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the replay server is not started")
        return f"ws://127.0.0.1:{self._port}/"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the replay server is not started")
        return self._port

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("already started")
        self._tmp = tempfile.TemporaryDirectory(prefix="replay-", dir=self._workdir)
        tmp = Path(self._tmp.name)
        if isinstance(self._frames, Path):
            frames_path = self._frames
        else:
            frames_path = tmp / "frames.bin"
            write_frames_file(self._frames, frames_path)
        self._stderr_path = tmp / "stderr.txt"
        config_json = json.dumps(attrs.asdict(self.config))
        try:
            with self._stderr_path.open("w") as stderr:
                self._proc = subprocess.Popen(
                    [
                        sys.executable,
                        *("-m", "tests.performance.sender", str(frames_path)),
                        *("--config", config_json),
                    ],
                    cwd=_REPO_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(_REPO_ROOT)},
                )
            self._stdout_thread = threading.Thread(
                target=self._read_stdout, name="replay-stdout", daemon=True
            )
            self._stdout_thread.start()
            with self._cond:
                ready = self._cond.wait_for(
                    lambda: self._port is not None or self._stdout_done, self._start_timeout
                )
            if self._port is None:
                raise RuntimeError(
                    "the replay sender did not report its port"
                    + ("" if ready else f" within {self._start_timeout} s")
                    + f": {self._stderr_tail()}"
                )
        except BaseException:
            self.stop()
            raise

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                word, _, rest = line.partition(" ")
                with self._cond:
                    if word == "PORT":
                        self._port = int(rest)
                    elif word == "REPORT":
                        self._reports.append(ConnectionReport.from_json(rest))
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._stdout_done = True
                self._cond.notify_all()

    def reports(self) -> list[ConnectionReport]:
        """Reports of the connections served so far."""
        with self._cond:
            return list(self._reports)

    def wait_reports(self, count: int, timeout: float) -> list[ConnectionReport]:
        """Block until ``count`` connections have been served; raise if that does not happen."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self._reports) >= count or self._stdout_done, timeout
            )
            reports = list(self._reports)
        if len(reports) < count:
            why = "exited" if ok else f"is still serving after {timeout} s"
            raise RuntimeError(
                f"the replay sender {why} with {len(reports)} of {count} connections served: "
                f"{self._stderr_tail()}"
            )
        return reports

    def stop(self) -> list[ConnectionReport]:
        """Terminate the child (kill if it lingers), remove temporary files; return the reports."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(5.0)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                if self._stdout_thread is not None:
                    self._stdout_thread.join(5.0)
                if proc.stdout is not None:
                    proc.stdout.close()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None
        return self.reports()

    def _stderr_tail(self) -> str:
        path = self._stderr_path
        if path is None or not path.exists():
            return "(no stderr)"
        text = path.read_text(errors="replace").strip()
        return text[-2000:] or "(empty stderr)"


if __name__ == "__main__":
    main()
