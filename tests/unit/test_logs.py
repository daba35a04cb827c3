"""Structured logging: the line formats, the actor of a record, redaction, supervision events.

Output goes to a StringIO through :func:`configure_logging`, the same path the daemon uses,
and is parsed line by line. Redaction is checked the way an operator would: a real ES256 key
and a real JWT are pushed through every path into a log record (message, arguments, extras,
an exception), and the whole output is then searched for any piece of them.
"""

from __future__ import annotations

import enum
import io
import json
import logging
import pickle
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import attrs
import pytest
import trio

from cjt_actors import (
    AutoShutdown,
    ChildContext,
    ChildSpec,
    InvalidSpec,
    Mailbox,
    Restart,
    Supervisor,
    SupervisorGaveUp,
)
from cjt_actors.logs import (
    NO_ACTOR,
    REDACTED,
    JsonFormatter,
    LoggingSetup,
    RedactingFilter,
    Redactor,
    actor_scope,
    configure_logging,
    current_actor,
    log_supervisor_event,
    log_supervisor_events,
    redact,
    register_secret,
)
from cjt_actors.messages import (
    ChildCrashed,
    ChildExited,
    ChildShutdownOverran,
    ChildStarted,
    ChildStopped,
    FailureEscalated,
    IntensityExceeded,
    RestartScheduled,
    SupervisorEvent,
    SupervisorStarted,
    SupervisorStopped,
)
from cjt_actors.policy import Backoff, Intensity
from cjt_actors.sim.simulator import Simulator

log = logging.getLogger("tests.logs")


class TerminalIO(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """JSON lines into a StringIO (not a terminal: JSON is chosen by default)."""
    stream = io.StringIO()
    setup = configure_logging(stream=stream)
    assert setup.json
    yield stream
    setup.close()


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    stream = TerminalIO()
    setup = configure_logging(stream=stream, level="debug")
    assert not setup.json
    yield stream
    setup.close()


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line of the output, parsed; fails if any line is not one JSON object."""
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# -- JSON lines ------------------------------------------------------------------------------


class Side(enum.Enum):
    BUY = "BUY"


@attrs.frozen
class Quote:
    price: Decimal
    side: Side


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_json_line_has_the_fixed_fields_and_the_extras(output: io.StringIO) -> None:
    before = datetime.now(UTC)
    log.info(
        "order %s sent\nsecond line",
        "c-1",
        extra={
            "event": "order_submitted",
            "client_order_id": "c-1",
            "product_id": "BTC-USD",
            "size": Decimal("0.0010"),
            "side": Side.BUY,
            "quote": Quote(price=Decimal("100.5"), side=Side.BUY),
            "ids": ("a", "b"),
            "nested": {"n": 1, "ok": True, "none": None, 2: [Decimal("1E+2")]},
            "ratio": 0.5,
            "nan": float("nan"),
            "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "odd": Unprintable(),
            "level": 3,  # a fixed field's name: renamed, not lost
        },
    )
    [line] = records(output)
    assert list(line)[:6] == ["ts", "level", "logger", "actor", "event", "msg"]
    ts = datetime.fromisoformat(line["ts"].replace("Z", "+00:00"))
    assert line["ts"].endswith("Z")
    assert abs((ts - before).total_seconds()) < 60  # wall time, UTC
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.logs"
    assert line["actor"] == NO_ACTOR
    assert line["event"] == "order_submitted"
    assert line["msg"] == "order c-1 sent\nsecond line"  # escaped in the line, not split
    assert line["client_order_id"] == "c-1"
    assert line["product_id"] == "BTC-USD"
    assert line["size"] == "0.0010"  # Decimal kept exact, as a string
    assert line["side"] == "BUY"
    assert line["quote"] == {"price": "100.5", "side": "BUY"}
    assert line["ids"] == ["a", "b"]
    assert line["nested"] == {"n": 1, "ok": True, "none": None, "2": ["1E+2"]}
    assert line["ratio"] == 0.5
    assert line["nan"] == "nan"
    assert line["when"] == "2024-01-02T03:04:05+00:00"
    assert line["odd"] == "<unprintable Unprintable: RuntimeError>"
    assert line["level_"] == 3
    assert "exc" not in line


def test_a_record_without_event_or_actor_gets_placeholders(output: io.StringIO) -> None:
    logging.getLogger("some.library").warning("plain")
    [line] = records(output)
    assert (line["level"], line["logger"], line["actor"], line["event"], line["msg"]) == (
        "WARNING",
        "some.library",
        "-",
        "-",
        "plain",
    )


def test_an_exception_is_one_field_with_type_message_and_traceback(output: io.StringIO) -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise InvalidSpec("outer\nproblem") from inner
    except InvalidSpec:
        log.exception("failed", extra={"event": "thing_failed"})
    [line] = records(output)
    assert line["level"] == "ERROR"
    exc = line["exc"]
    assert exc["type"] == "cjt_actors.errors.InvalidSpec"
    assert exc["message"] == "outer\nproblem"
    assert exc["traceback"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'inner'" in exc["traceback"]  # the cause is kept
    assert exc["traceback"].endswith("cjt_actors.errors.InvalidSpec: outer\nproblem")


def test_builtin_exception_type_has_no_module(output: io.StringIO) -> None:
    log.error("x", exc_info=ValueError("v"))
    log.error("no exception in flight", exc_info=True)  # (None, None, None): no exc field
    first, second = records(output)
    assert first["exc"]["type"] == "ValueError"
    assert "exc" not in second


def test_stack_info_is_kept(output: io.StringIO) -> None:
    log.info("where", stack_info=True)
    [line] = records(output)
    assert line["stack"].startswith("Stack (most recent call last):")


def test_bad_log_arguments_do_not_raise(output: io.StringIO) -> None:
    log.info("count %d", "not a number")
    [line] = records(output)
    assert line["msg"].startswith("count %d [bad log arguments ('not a number',): TypeError]")


def test_levels_below_the_configured_one_are_dropped() -> None:
    stream = io.StringIO()
    setup = configure_logging(stream=stream, json=True, level=logging.WARNING)
    try:
        log.info("quiet")
        log.warning("loud")
    finally:
        setup.close()
    assert [r["msg"] for r in records(stream)] == ["loud"]


# -- the console format ----------------------------------------------------------------------


def test_console_line_is_readable(console: io.StringIO) -> None:
    log.info(
        "order sent\n\x1b[31mred",
        extra={
            "event": "order_submitted",
            "client_order_id": "c-1",
            "note": "two words",
            "size": Decimal("1.5"),
            "ids": [1, 2],
        },
    )
    [line] = console.getvalue().splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO    - order_submitted order sent\\n\\x1b\[31mred "
        r'client_order_id=c-1 note="two words" size=1.5 ids=\[1,2\]',
        line,
    ), line


def test_console_traceback_follows_indented(console: io.StringIO) -> None:
    with actor_scope("executor"):
        try:
            raise ValueError("boom")
        except ValueError:
            log.debug("failed", exc_info=True, stack_info=True)
    first, *rest = console.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d DEBUG   executor - failed", first), first
    assert rest[0] == "    Traceback (most recent call last):"
    assert "    ValueError: boom" in rest
    assert "    Stack (most recent call last):" in rest
    assert all(row.startswith("    ") for row in rest)


# -- configuring -------------------------------------------------------------------------------


def test_configuring_twice_replaces_the_handler() -> None:
    root = logging.getLogger()
    level_before = root.level
    handlers_before = list(root.handlers)
    first_stream, second_stream = io.StringIO(), io.StringIO()
    first = configure_logging(stream=first_stream, json=True, level="DEBUG")
    second = configure_logging(stream=second_stream, json=False, level="WARNING")
    try:
        assert root.handlers == [*handlers_before, second.handler]
        assert root.level == logging.WARNING
        log.warning("once")
        assert first_stream.getvalue() == ""
        assert second_stream.getvalue().count("once") == 1
        assert repr(first) == "<LoggingSetup json closed>"
        assert repr(second) == "<LoggingSetup console installed>"
    finally:
        second.close()
    second.close()  # idempotent
    first.close()
    assert root.handlers == handlers_before
    assert root.level == level_before


def test_default_stream_is_stderr_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    setup = configure_logging()
    try:
        log.info("to stderr")
    finally:
        setup.close()
    assert isinstance(setup, LoggingSetup)
    assert records(stream)[0]["msg"] == "to stderr"


class Writer:
    """A stream with no isatty at all."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_a_stream_that_cannot_say_is_not_a_terminal() -> None:
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    setup = configure_logging(stream=closed)
    setup.close()
    assert setup.json
    writer = Writer()
    setup = configure_logging(stream=writer)  # type: ignore[arg-type]
    log.info("to a writer")
    setup.close()
    assert setup.json
    assert json.loads(writer.text)["msg"] == "to a writer"


@pytest.mark.parametrize("level", ["loud", True, 1.5, ""])
def test_bad_levels_are_refused(level: Any) -> None:
    with pytest.raises(InvalidSpec, match="log level"):
        configure_logging(stream=io.StringIO(), level=level)


# -- the actor -------------------------------------------------------------------------------


def test_actor_scope_sets_and_restores() -> None:
    assert current_actor() == NO_ACTOR
    with actor_scope("a"):
        with actor_scope("b"):
            assert current_actor() == "b"
        assert current_actor() == "a"
    assert current_actor() == NO_ACTOR


def test_an_actor_extra_names_the_actor(output: io.StringIO) -> None:
    with actor_scope("mine"):
        log.info("on behalf", extra={"actor": "theirs"})
    assert records(output)[0]["actor"] == "theirs"


async def test_a_supervised_actor_and_its_tasks_log_as_that_actor(
    output: io.StringIO, autojump_clock: trio.testing.MockClock
) -> None:
    async def helper() -> None:
        log.info("from a task", extra={"event": "helper"})

    async def actor(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        log.info("from the actor", extra={"event": "actor"})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(helper)

    spec = ChildSpec(name="strategy:mm", run=actor, restart=Restart.TRANSIENT, significant=True)
    supervisor = Supervisor("root", [spec], auto_shutdown=AutoShutdown.ANY_SIGNIFICANT)
    await supervisor.run()  # returns when the significant child has returned
    log.info("after", extra={"event": "outside"})
    assert {r["event"]: r["actor"] for r in records(output)} == {
        "actor": "strategy:mm",
        "helper": "strategy:mm",
        "outside": NO_ACTOR,
    }


async def test_nested_supervisors_name_the_innermost_actor(
    output: io.StringIO, autojump_clock: trio.testing.MockClock
) -> None:
    async def actor(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        log.info("inner", extra={"event": "leaf"})

    inner = Supervisor(
        "trading",
        [ChildSpec(name="executor", run=actor, restart=Restart.TRANSIENT, significant=True)],
        auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
    )

    async def outer_probe(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        log.info("outer", extra={"event": "probe"})
        task_status.started()

    outer = Supervisor(
        "root",
        [
            ChildSpec(name="probe", run=outer_probe, restart=Restart.TEMPORARY),
            inner.as_child(restart=Restart.TRANSIENT, significant=True),
        ],
        auto_shutdown=AutoShutdown.ANY_SIGNIFICANT,
    )
    await outer.run()
    assert {r["event"]: r["actor"] for r in records(output)} == {
        "probe": "probe",
        "leaf": "executor",
    }


def test_a_spec_still_equals_the_function_it_was_given() -> None:
    async def actor(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()

    async def other(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()

    spec = ChildSpec(name="a", run=actor)
    again = ChildSpec(name="a", run=spec.run)
    assert spec.run == actor
    assert spec.run != other
    assert spec.run != ChildSpec(name="a", run=other).run
    assert again.run is spec.run  # not wrapped twice
    assert spec == again
    assert hash(spec.run) == hash(actor)
    assert repr(spec.run) == repr(actor)


# -- redaction ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> tuple[str, str, str]:
    """A real CDP-style key: (key name, PEM private key, a JWT it signed), registered."""
    credentials, document = Simulator().generate_key()
    name, pem = document["name"], document["privateKey"]
    token = credentials.rest_jwt("GET", "api.coinbase.com", "/api/v3/brokerage/accounts")
    # What the daemon does at start-up.
    register_secret(name)
    register_secret(pem)
    return name, pem, token


def key_material(name: str, pem: str, token: str) -> list[str]:
    """Every piece of the key an operator would grep for."""
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    assert len(body) >= 2
    assert all(len(line) >= 16 for line in body)
    return [name, *body, token, *token.split(".")]


def test_no_key_material_reaches_the_output(output: io.StringIO, key: tuple[str, str, str]) -> None:
    name, pem, token = key
    document = {"name": name, "privateKey": pem}
    log.info(f"message: {pem} {name} {token}")
    log.info("args: %s %s %s %r", pem, name, token, document)
    log.info(
        "extras",
        extra={
            "event": "loaded",
            "key": pem,
            "key_name": name,
            "headers": {"Authorization": f"Bearer {token}"},
            "document": document,
            "lines": pem.splitlines(),
        },
    )
    try:
        raise RuntimeError(f"request failed for {name} with {token}: {pem!r}")
    except RuntimeError:
        log.exception("exception")
    with actor_scope("executor"):
        try:
            raise ValueError(pem[: len(pem) // 2])  # cut short, as error texts are
        except ValueError:
            log.warning("half a key", exc_info=True)
    text = output.getvalue()
    found = [piece for piece in key_material(name, pem, token) if piece in text]
    assert found == []
    assert text.count(REDACTED) >= 10
    assert len(records(output)) == 5  # still parseable, one line a record
    assert "PRIVATE KEY-----\\n" not in text  # no dangling PEM header either


def test_the_console_format_is_redacted_too(
    console: io.StringIO, key: tuple[str, str, str]
) -> None:
    name, pem, token = key
    log.info("key %s", pem, extra={"key_name": name, "token": token})
    try:
        raise RuntimeError(name)
    except RuntimeError:
        log.exception("boom")
    text = console.getvalue()
    assert [p for p in key_material(name, pem, token) if p in text] == []
    assert REDACTED in text


def test_known_shapes_are_redacted_without_registration(key: tuple[str, str, str]) -> None:
    _, pem, token = key
    redactor = Redactor()  # knows no secrets
    assert redactor.redact(f"a {pem} b") == f"a {REDACTED}\n b"
    assert redactor.redact(f"a {pem!r} b") == f"a '{REDACTED}\\n' b"
    assert redactor.redact(pem[:100]) == REDACTED  # truncated block: to the end
    assert redactor.redact(f"jwt={token};") == f"jwt={REDACTED};"
    assert (
        redactor.redact("Authorization: bearer abc.DEF-_~+/=")
        == f"Authorization: bearer {REDACTED}"
    )
    assert redactor.redact("nothing secret here") == "nothing secret here"


def test_registered_secrets_in_every_line_break_form() -> None:
    redactor = Redactor()
    secret = "first-line-0123456789\nsecond-line-0123456789\nend"
    redactor.register(secret)
    redactor.register("  token-value  ")  # surrounding space is not part of it
    assert len(redactor) == 6  # whole, three line-break forms, two long lines
    assert redactor.redact(secret) == REDACTED
    assert redactor.redact(secret.replace("\n", "\\n")) == REDACTED
    assert redactor.redact(secret.replace("\n", "\r\n")) == REDACTED
    assert redactor.redact("x second-line-0123456789 y") == f"x {REDACTED} y"
    assert redactor.redact("the end") == "the end"  # a short line alone is left
    assert redactor.redact("[token-value]") == f"[{REDACTED}]"


def test_the_registry_does_not_show_its_secrets() -> None:
    redactor = Redactor()
    redactor.register("s3cr3t-value-xyz")
    assert "s3cr3t" not in repr(redactor)
    assert repr(redactor) == "<Redactor 1 secret forms>"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(redactor)
    filter_ = RedactingFilter(redactor)
    assert "s3cr3t" not in repr(vars(filter_))


@pytest.mark.parametrize("value", ["", "   \n ", None, b"bytes"])
def test_blank_or_non_string_secrets_are_refused(value: Any) -> None:
    with pytest.raises(InvalidSpec, match="register_secret"):
        register_secret(value)


def test_module_redact_uses_the_registered_secrets() -> None:
    register_secret("module-level-secret-42")
    assert redact("x module-level-secret-42 y") == f"x {REDACTED} y"


def test_deep_values_and_prerendered_exception_text_are_redacted() -> None:
    redactor = Redactor()
    redactor.register("deep-secret-123456")
    deep: Any = "deep-secret-123456"
    for _ in range(10):
        deep = [deep]
    record = logging.makeLogRecord(
        {"msg": "m", "deep": deep, "exc_text": "Traceback: deep-secret-123456"}
    )
    RedactingFilter(redactor).filter(record)
    text = json.dumps(vars(record)["deep"])
    assert "deep-secret" not in text
    assert REDACTED in text
    assert record.exc_text == f"Traceback: {REDACTED}"


def test_a_formatter_on_its_own_still_redacts() -> None:
    redactor = Redactor()
    redactor.register("formatter-secret-99")
    record = logging.makeLogRecord(
        {"name": "n", "msg": "m %s", "args": ("formatter-secret-99",), "levelno": 20}
    )
    record.levelname = "INFO"
    line = json.loads(JsonFormatter(redactor).format(record))
    assert line["msg"] == f"m {REDACTED}"
    assert line["actor"] == NO_ACTOR


def test_a_record_through_two_handlers_is_redacted_once(key: tuple[str, str, str]) -> None:
    name, _, _ = key
    first, second = io.StringIO(), io.StringIO()
    setup = configure_logging(stream=first, json=True)
    extra_handler = logging.StreamHandler(second)
    extra_handler.addFilter(RedactingFilter())
    extra_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(extra_handler)
    try:
        log.info("%s", name, extra={"doc": {"k": name}})
    finally:
        logging.getLogger().removeHandler(extra_handler)
        setup.close()
    assert records(first) == records(second)
    assert records(first)[0]["doc"] == {"k": REDACTED}


# -- supervision events ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CustomEvent(SupervisorEvent):
    """A supervisor event this module has no sentence for."""


EVENTS: list[tuple[SupervisorEvent, str, str, str]] = [
    (
        SupervisorStarted(supervisor="root", at=1.0, children=("a", "b")),
        "supervisor_started",
        "INFO",
        "supervisor root started a, b",
    ),
    (
        SupervisorStopped(supervisor="root", at=1.0, reason="cancelled"),
        "supervisor_stopped",
        "INFO",
        "supervisor root stopped: cancelled",
    ),
    (
        ChildStarted(supervisor="root", at=1.0, child="a", incarnation=2),
        "child_started",
        "INFO",
        "root/a started (incarnation 2)",
    ),
    (
        ChildExited(supervisor="root", at=1.0, child="a", incarnation=0, ran_for=1.5),
        "child_exited",
        "INFO",
        "root/a returned after 1.500 s",
    ),
    (
        ChildStopped(supervisor="root", at=1.0, child="a", incarnation=0, ran_for=1.0, why="x"),
        "child_stopped",
        "INFO",
        "root/a stopped: x",
    ),
    (
        ChildCrashed(
            supervisor="root",
            at=1.0,
            child="a",
            incarnation=1,
            ran_for=0.5,
            error_type="ValueError",
            error="bad",
            before_ready=True,
        ),
        "child_crashed",
        "WARNING",
        "root/a crashed before it was ready: ValueError: bad",
    ),
    (
        ChildShutdownOverran(supervisor="root", at=1.0, child="a", incarnation=0, timeout=5.0),
        "child_shutdown_overran",
        "WARNING",
        "root/a is still cleaning up 5.0 s after it was told to stop",
    ),
    (
        RestartScheduled(
            supervisor="root", at=1.0, cause="a", children=("a", "b"), attempt=1, delay=0.25
        ),
        "restart_scheduled",
        "INFO",
        "root: restarting a, b in 0.250 s after a ended",
    ),
    (
        IntensityExceeded(supervisor="root", at=1.0, restarts=6, max_restarts=5, period=60.0),
        "intensity_exceeded",
        "ERROR",
        "root: 6 restarts within 60.0 s, giving up",
    ),
    (
        FailureEscalated(supervisor="root", at=1.0, causes=("ValueError: bad",)),
        "failure_escalated",
        "ERROR",
        "root gave up and escalates: ValueError: bad",
    ),
    (CustomEvent(supervisor="root", at=1.0), "custom_event", "INFO", "root: custom event"),
]


@pytest.mark.parametrize(("event", "name", "level", "message"), EVENTS)
def test_each_supervision_event_is_one_record(
    output: io.StringIO, event: SupervisorEvent, name: str, level: str, message: str
) -> None:
    log_supervisor_event(event)
    [line] = records(output)
    assert (line["event"], line["level"], line["msg"]) == (name, level, message)
    assert line["logger"] == "cjt_actors.supervision"
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        assert line[field.name] == (list(value) if isinstance(value, tuple) else value)


async def test_a_real_supervisors_events_are_logged(
    output: io.StringIO, autojump_clock: trio.testing.MockClock
) -> None:
    async def crashing(
        ctx: ChildContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await trio.sleep(1)
        raise ValueError("broken")

    observer: Mailbox[SupervisorEvent] = Mailbox("observer", capacity=100)
    sender = observer.sender()
    supervisor = Supervisor(
        "root",
        [ChildSpec(name="worker", run=crashing)],
        intensity=Intensity(max_restarts=1, period=60.0),
        backoff=Backoff.none(),
        observer=sender,
    )
    custom = logging.getLogger("tests.logs.supervision")
    events = observer.receiver()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(log_supervisor_events, events, logger=custom))
        with pytest.raises(SupervisorGaveUp):
            await supervisor.run()
        sender.close()
        observer.close()
    lines = records(output)
    assert {line["logger"] for line in lines} == {"tests.logs.supervision"}
    crashes = [line for line in lines if line["event"] == "child_crashed"]
    assert [(c["child"], c["incarnation"], c["error"]) for c in crashes] == [
        ("worker", 0, "broken"),
        ("worker", 1, "broken"),
    ]
    assert lines[-1]["event"] == "supervisor_stopped"
