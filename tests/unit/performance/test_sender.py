"""The replay sender delivers exactly the frames it was given, in order, to a real websocket client.

A quick self-test of the benchmark tool (not of the product): a trio-websocket client subscribes,
then receives every frame, blasted or paced; the frame sizes cover the 7-, 16- and 64-bit length
encodings; sequence numbers continue across loops when asked; the server's close is code 1000.
"""

from __future__ import annotations

import json
import time

import pytest
import trio
import trio_websocket

from tests.performance.sender import (
    ConnectionReport,
    ReplayServer,
    accept_key,
    encode_frame,
    read_frames_file,
    write_frames_file,
)


def _frames(count: int) -> list[str]:
    """Small JSON frames with sequence numbers, plus one of each length encoding."""
    frames = [
        json.dumps({"channel": "l2_data", "sequence_num": i, "events": [{"n": "x" * (i % 7)}]})
        for i in range(count)
    ]
    frames[1] = json.dumps({"channel": "l2_data", "sequence_num": 1, "pad": "y" * 300})
    frames[2] = json.dumps({"channel": "l2_data", "sequence_num": 2, "pad": "z" * 70_000})
    return frames


async def _receive(url: str, count: int) -> tuple[list[str], int | None]:
    """Subscribe, receive ``count`` messages, then wait for the server's close code.

    The TCP stream is opened and closed here, as the product's connector does
    (``cjt_actors.exchange.ws.tcp_connector``): trio-websocket 0.12's ``open_websocket_url``
    leaves its socket unclosed when the server ends the connection (a ResourceWarning)."""
    received: list[str] = []
    host, port = url.removeprefix("ws://").rstrip("/").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, host, "/", max_message_size=1 << 20
            )
            await ws.send_message('{"type": "subscribe"}')
            with trio.fail_after(10):
                for _ in range(count):
                    received.append(str(await ws.get_message()))
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
            await ws.aclose()
    finally:
        await stream.aclose()
    assert closed.value.reason is not None
    return received, closed.value.reason.code


def test_encode_frame_lengths() -> None:
    assert encode_frame(b"ab") == b"\x81\x02ab"
    assert encode_frame(b"a" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert encode_frame(b"a" * 65536)[:10] == b"\x81\x7f" + (65536).to_bytes(8, "big")
    # RFC 6455 §1.3 example.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_frames_file_round_trip(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    frames = ["{}", "", '{"a": "\\n\\u00e9"}', "é" * 10]
    path = tmp_path / "f.bin"
    assert write_frames_file(frames, path) == 4
    assert read_frames_file(path) == [f.encode() for f in frames]


async def test_blast_then_paced_sequentially() -> None:
    """One sender serves two connections in a row; paced mode keeps its schedule."""
    frames = _frames(200)
    with ReplayServer(frames, mode="blast", chunk_bytes=4096, connections=1) as server:
        before = time.perf_counter()
        received, code = await _receive(server.url, len(frames))
        after = time.perf_counter()
        [report] = await trio.to_thread.run_sync(server.wait_reports, 1, 10.0)
    assert received == frames
    assert code == 1000
    _check(report, len(frames))
    # One monotonic clock for both processes: receivers time their window from this.
    assert before < report.send_started_at < after

    frames = frames[:60]
    with ReplayServer(frames, mode="paced", interval_us=2000, burst=3, connections=2) as server:
        for _ in range(2):
            started = time.perf_counter()
            received, code = await _receive(server.url, len(frames))
            elapsed = time.perf_counter() - started
            assert received == frames
            assert code == 1000
            # 20 bursts, 2 ms apart: at least 19 intervals.
            assert elapsed >= 19 * 0.002
        reports = await trio.to_thread.run_sync(server.wait_reports, 2, 10.0)
    for report in reports:
        _check(report, len(frames))
        assert report.send_seconds >= 19 * 0.002


async def test_loops_continue_sequence_and_client_closes() -> None:
    frames = _frames(10)
    with ReplayServer(
        frames, loops=3, sequence="continuous", close="client", wait_client_messages=2
    ) as server:
        async with trio_websocket.open_websocket_url(server.url, max_message_size=1 << 20) as ws:
            await ws.send_message("sub 1")
            await ws.send_message("sub 2")
            with trio.fail_after(10):
                numbers = [json.loads(await ws.get_message())["sequence_num"] for _ in range(30)]
                # The connection stays open and idle until the client closes it.
                with trio.move_on_after(0.05) as idle:
                    await ws.get_message()
            assert idle.cancelled_caught
        [report] = await trio.to_thread.run_sync(server.wait_reports, 1, 10.0)
    assert numbers == list(range(30))
    assert report.client_texts == ("sub 1", "sub 2")
    assert report.closed_by == "client"
    assert report.frames_sent == 30
    assert report.error is None


def _check(report: ConnectionReport, count: int) -> None:
    assert report.error is None
    assert report.frames_sent == count
    assert report.client_messages == 1
    assert report.client_texts == ('{"type": "subscribe"}',)
    assert report.closed_by == "server"
