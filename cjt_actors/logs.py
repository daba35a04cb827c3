"""Structured logs: one event a line, saying which actor logged it, with secrets redacted.

A daemon that runs for weeks is debugged from its logs, usually by a program (``jq``,
journald, a log shipper) and sometimes by a person at a terminal. So every record becomes
exactly one line: JSON when the stream is not a terminal, ``HH:MM:SS LEVEL actor event msg
key=value ...`` when it is. Callers keep the stdlib API::

    log = logging.getLogger(__name__)
    log.info("order sent", extra={"event": "order_submitted", "client_order_id": coid})

and :func:`configure_logging` installs the one handler (on the root logger, so the records
of the libraries we use get the same treatment) that does the rest:

* **actor**: a :class:`~contextvars.ContextVar` names the actor whose code is running.
  :mod:`cjt_actors.child` sets it around every incarnation of every supervised child, and
  trio copies a task's context into the tasks it starts, so an actor's helper tasks inherit
  it. Outside any actor it is ``"-"``. The handler reads it synchronously, in the task that
  logged, which is why it is a filter and not something done later.
* **event and ids**: ``extra={"event": ..., ...}``. Every extra key goes into the line;
  values become JSON types (``Decimal`` as its exact string, enums as their value, attrs
  classes as objects, anything else as ``str()``). An extra named like one of the fixed
  fields (``ts``, ``level``, ``logger``, ``msg``, ``exc``) comes out with a trailing ``_``;
  ``actor`` and ``event`` given as extras replace the defaults.
* **redaction**: a filter on the handler rewrites the message (after ``%``-formatting its
  arguments), every extra value and the exception text, replacing PEM private-key blocks,
  JWTs, ``Bearer`` tokens and every string given to :func:`register_secret` with
  ``[REDACTED]``. It runs before any formatter, so no output path sees the original; the
  formatters still check, so one used on its own never prints an unredacted record.

Timestamps are wall-clock UTC (a log line is read against other machines' logs, unlike the
trio clock that actors use for decisions).
"""

from __future__ import annotations

import contextvars
import datetime
import enum
import json as jsonlib
import logging
import math
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeAlias, final

import attrs

from .errors import InvalidSpec
from .messages import (
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

if TYPE_CHECKING:
    import trio

__all__ = [
    "NO_ACTOR",
    "REDACTED",
    "ActorFilter",
    "ConsoleFormatter",
    "JsonFormatter",
    "LoggingSetup",
    "RedactingFilter",
    "Redactor",
    "actor_scope",
    "configure_logging",
    "current_actor",
    "log_event",
    "log_supervisor_event",
    "log_supervisor_events",
    "redact",
    "register_secret",
]

#: The actor of a record logged outside any actor (start-up, the CLI, library threads).
NO_ACTOR = "-"

#: What a secret is replaced with.
REDACTED = "[REDACTED]"

# -- the actor ---------------------------------------------------------------------------------

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("cjt_actor", default=NO_ACTOR)


def current_actor() -> str:
    """The name of the actor whose code is running, or :data:`NO_ACTOR`."""
    return _actor.get()


@contextmanager
def actor_scope(name: str) -> Iterator[None]:
    """Make ``name`` the current actor inside the block (and in tasks started from it)."""
    token = _actor.set(name)
    try:
        yield
    finally:
        _actor.reset(token)


# -- redaction ---------------------------------------------------------------------------------

# A PEM private key, to its END line; a block cut short (an error message truncated to a
# length limit) is redacted to the end of the text.
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# A JWS compact serialisation: base64url header starting `{"` (eyJ), payload, signature.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# RFC 6750's b64token after "Bearer"; the word itself stays so the line still says what it was.
_BEARER = re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9._~+/=-]+")
# Real and literal (backslash-n, as in .env files and reprs) line breaks.
_LINE_BREAK = re.compile(r"\r\n|\n|\\r\\n|\\n")
#: The shortest line of a multi-line secret that is redacted on its own. A PEM body line is
#: 64 characters; its last line can be a few characters, which would blank common words
#: everywhere while revealing almost nothing of the key.
_MIN_FRAGMENT = 16


def _secret_forms(value: str) -> set[str]:
    """The strings to look for for one secret: itself, its other line-break forms, its lines.

    A multi-line secret is logged in many shapes: as is, in a ``repr`` (literal ``\\n``),
    one line at a time, cut short. Redacting each long line catches all of them.
    """
    whole = value.strip()
    if not whole:
        return set()
    forms = {whole}
    lines = [line.strip() for line in _LINE_BREAK.split(whole)]
    if len(lines) > 1:
        forms.update(("\n".join(lines), "\\n".join(lines), "\r\n".join(lines)))
        forms.update(
            line for line in lines if len(line) >= _MIN_FRAGMENT and not line.startswith("-----")
        )
    return forms


@final
class Redactor:
    """Finds key material in text and replaces it with :data:`REDACTED`.

    Always redacted: PEM private-key blocks, JWTs and ``Bearer`` tokens. Also every string
    given to :meth:`register`. The registered strings are kept only inside this object,
    which shows its count and nothing else in its ``repr`` and refuses to be pickled (the
    :class:`~cjt_actors.exchange.auth.Credentials` rule).

    Thread-safe: registering swaps in a new compiled pattern; redacting reads it once.
    """

    __slots__ = ("_lock", "_pattern", "_secrets")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        """Redact ``value`` (and its lines, if it has several) from now on.

        Raises:
            InvalidSpec: ``value`` is not a string or is blank (it would redact nothing,
                which is almost certainly a configuration mistake).
        """
        if not isinstance(value, str):
            raise InvalidSpec(f"register_secret: expected a string, got {type(value).__name__}")
        forms = _secret_forms(value)
        if not forms:
            raise InvalidSpec("register_secret: the secret is empty or blank")
        with self._lock:
            secrets = self._secrets | forms
            # Longest first, so a whole secret wins over one of its lines.
            ordered = sorted(secrets, key=lambda s: (-len(s), s))
            self._pattern = re.compile("|".join(map(re.escape, ordered)))
            self._secrets = secrets

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        text = _PEM.sub(REDACTED, text)
        text = _JWT.sub(REDACTED, text)
        text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return text

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"<Redactor {len(self._secrets)} secret forms>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Redactor cannot be pickled: the secrets stay in this process")


#: The process-wide registry used by :func:`register_secret` and the default filter.
_REDACTOR = Redactor()


def register_secret(value: str) -> None:
    """Redact ``value`` from every log line from now on (see :meth:`Redactor.register`).

    Register the API key name and private key as soon as they are loaded, before anything
    that might log them runs.
    """
    _REDACTOR.register(value)


def redact(text: str) -> str:
    """``text`` with every known kind of secret and every registered secret replaced."""
    return _REDACTOR.redact(text)


# -- preparing a record --------------------------------------------------------------------------

#: The attributes every LogRecord has; any other attribute came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "actor",
}
#: Set on a record once it has been redacted (a record can pass several handlers).
_PREPARED = "_cjt_prepared"
#: The structured exception ({type, message, traceback}) the filter leaves on a record.
_EXCEPTION = "_cjt_exception"
#: Output fields an extra cannot replace (it is renamed with a trailing underscore).
_FIXED_FIELDS = frozenset({"ts", "level", "logger", "msg", "exc"})
#: How deep nested extra values are converted before the rest becomes ``str()``.
_MAX_DEPTH = 6

_Json: TypeAlias = bool | int | float | str | list["_Json"] | dict[str, "_Json"] | None


def _safe_str(value: object) -> str:
    """``str(value)``, or a placeholder naming the type if its ``__str__`` raises.

    Logging must never raise into the code that logs: a crashing ``__str__`` would take an
    actor down for the sake of a log line.
    """
    try:
        return str(value)
    except Exception as error:
        return f"<unprintable {type(value).__name__}: {type(error).__name__}>"


def _plain(value: object, redactor: Redactor, depth: int = 0) -> _Json:
    """``value`` as JSON types, every string in it redacted."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, Decimal):
        return str(value)  # exact, unlike a float
    if isinstance(value, enum.Enum):
        return _plain(value.value, redactor, depth)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            return {
                redactor.redact(_safe_str(k)): _plain(v, redactor, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [_plain(v, redactor, depth + 1) for v in value]
        cls = type(value)
        if attrs.has(cls):
            return {
                field.name: _plain(getattr(value, field.name), redactor, depth + 1)
                for field in attrs.fields(cls)
            }
    return redactor.redact(_safe_str(value))


def _type_name(error: BaseException) -> str:
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _render_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as error:  # bad %-arguments: say so in the line instead of raising
        args = _safe_str(record.args)
        return f"{_safe_str(record.msg)} [bad log arguments {args}: {type(error).__name__}]"


def _prepare(record: logging.LogRecord, redactor: Redactor) -> None:
    """Render and redact ``record`` in place, once.

    The message is %-formatted here and its arguments dropped, so the arguments' objects
    never reach a formatter (nor logging's error handler, which prints them).
    """
    if getattr(record, _PREPARED, False):
        return
    record.msg = redactor.redact(_render_message(record))
    record.args = None
    for key, value in list(vars(record).items()):
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_cjt_"):
            setattr(record, key, _plain(value, redactor))
    if "actor" in vars(record):
        vars(record)["actor"] = _plain(vars(record)["actor"], redactor)
    exc_info = record.exc_info
    if exc_info is not None and exc_info[1] is not None:
        error = exc_info[1]
        text = "".join(traceback.format_exception(error)).rstrip("\n")
        record.exc_text = redactor.redact(text)
        setattr(
            record,
            _EXCEPTION,
            {
                "type": _type_name(error),
                "message": redactor.redact(_safe_str(error)),
                "traceback": record.exc_text,
            },
        )
    elif record.exc_text:  # rendered by a formatter of a handler that ran before this one
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
    setattr(record, _PREPARED, True)


@final
class ActorFilter(logging.Filter):
    """Stamps each record with the current actor (unless an ``actor`` extra says otherwise)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "actor" not in vars(record):
            vars(record)["actor"] = current_actor()
        return True


@final
class RedactingFilter(logging.Filter):
    """Redacts message, arguments, extras and exception text (see :class:`Redactor`).

    Never drops a record; it rewrites it in place, so every handler after it sees the
    redacted record too.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = _REDACTOR if redactor is None else redactor

    def filter(self, record: logging.LogRecord) -> bool:
        _prepare(record, self._redactor)
        return True


def _extras(record: logging.LogRecord) -> dict[str, _Json]:
    out: dict[str, _Json] = {}
    for key, value in vars(record).items():
        if key in _RECORD_ATTRIBUTES or key.startswith("_cjt_") or key == "event":
            continue
        out[f"{key}_" if key in _FIXED_FIELDS else key] = value
    return out


def _fields(record: logging.LogRecord, redactor: Redactor) -> tuple[str, str, dict[str, _Json]]:
    """(actor, event, extras) of a prepared record."""
    _prepare(record, redactor)
    actor = vars(record).get("actor", NO_ACTOR)
    event = vars(record).get("event", "-")
    return _safe_str(actor), _safe_str(event), _extras(record)


@final
class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, actor, event, msg, the extras, exc.

    ``ts`` is ISO-8601 UTC with milliseconds. Line breaks inside values are JSON-escaped, so
    a record is always exactly one line.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = _REDACTOR if redactor is None else redactor

    def format(self, record: logging.LogRecord) -> str:
        actor, event, extras = _fields(record, self._redactor)
        ts = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        line: dict[str, _Json] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "actor": actor,
            "event": event,
            "msg": record.msg,
        }
        line.update(extras)
        exception = getattr(record, _EXCEPTION, None)
        if exception is not None:
            line["exc"] = exception
        if record.stack_info:
            line["stack"] = record.stack_info
        return jsonlib.dumps(line, separators=(",", ":"), default=_safe_str)


# Control characters (a line break, an ANSI escape from a remote server's error text) must
# not reach a terminal raw: they would split the line or restyle the screen.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}
_PLAIN_VALUE = re.compile(r"[^\s\"'=]+")


def _console_value(value: _Json) -> str:
    if isinstance(value, str):
        if _PLAIN_VALUE.fullmatch(value) and value.isprintable():
            return value
        return jsonlib.dumps(value)
    return jsonlib.dumps(value, separators=(",", ":"))


@final
class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL actor event msg key=value ...`` for a person at a terminal.

    The time is UTC, like the JSON lines, so the two can be compared. A traceback follows
    on indented lines.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = _REDACTOR if redactor is None else redactor

    def format(self, record: logging.LogRecord) -> str:
        actor, event, extras = _fields(record, self._redactor)
        clock = time.strftime("%H:%M:%S", time.gmtime(record.created))
        parts = [clock, f"{record.levelname:<7}", actor, event, str(record.msg).translate(_CONTROL)]
        parts.extend(f"{key}={_console_value(value)}" for key, value in extras.items())
        line = " ".join(parts)
        trailer = [text for text in (record.exc_text, record.stack_info) if text]
        for text in trailer:
            line += "\n" + "\n".join("    " + row for row in text.splitlines())
        return line


# -- installing ----------------------------------------------------------------------------------


@final
class LoggingSetup:
    """What :func:`configure_logging` installed; :meth:`close` takes it out again."""

    def __init__(self, handler: logging.Handler, *, json: bool, previous_level: int) -> None:
        self.handler = handler
        self.json = json
        self._previous_level = previous_level
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "installed"
        return f"<LoggingSetup {'json' if self.json else 'console'} {state}>"

    def close(self) -> None:
        """Remove the handler from the root logger and restore the root level. Idempotent."""
        global _installed
        with _install_lock:
            if self._closed:
                return
            self._closed = True
            root = logging.getLogger()
            root.removeHandler(self.handler)
            root.setLevel(self._previous_level)
            _installed = None  # an open setup is always the installed one


_install_lock = threading.RLock()
_installed: LoggingSetup | None = None


def _level_number(level: str | int) -> int:
    if isinstance(level, bool) or not isinstance(level, str | int):
        raise InvalidSpec(f"log level: expected a name or a number, got {level!r}")
    if isinstance(level, int):
        return level
    names = logging.getLevelNamesMapping()
    number = names.get(level.strip().upper())
    if number is None:
        known = ", ".join(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
        raise InvalidSpec(f"log level {level!r} is not one of {known}")
    return number


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def configure_logging(
    *, stream: TextIO | None = None, json: bool | None = None, level: str | int = "INFO"
) -> LoggingSetup:
    """Send every log record to ``stream`` (default: stderr), one line each, redacted.

    Args:
        stream: where lines go; resolved at call time, so ``sys.stderr`` replaced by a test
            is honoured.
        json: JSON lines (True), the console format (False), or None: JSON unless the
            stream is a terminal.
        level: the root logger's level (a name such as ``"info"`` or a number).

    Calling it again replaces the handler it installed before (never a second one). The
    returned :class:`LoggingSetup` closes it, restoring the root level it found.

    Raises:
        InvalidSpec: an unknown level name.
    """
    global _installed
    number = _level_number(level)
    target = sys.stderr if stream is None else stream
    as_json = not _is_terminal(target) if json is None else json
    handler = logging.StreamHandler(target)
    handler.addFilter(ActorFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if as_json else ConsoleFormatter())
    root = logging.getLogger()
    with _install_lock:
        previous = _installed
        if previous is not None:
            previous.close()
        setup = LoggingSetup(handler, json=as_json, previous_level=root.level)
        root.addHandler(handler)
        root.setLevel(number)
        _installed = setup
    return setup


# -- supervision events --------------------------------------------------------------------------

_log = logging.getLogger("cjt_actors.supervision")
_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def _event_name(event: SupervisorEvent) -> str:
    return _CAMEL_BOUNDARY.sub("_", type(event).__name__).lower()


def _describe(event: SupervisorEvent) -> tuple[int, str]:
    """The level and one-sentence message for a supervision event."""
    match event:
        case SupervisorStarted(supervisor=sup, children=children):
            return logging.INFO, f"supervisor {sup} started {', '.join(children)}"
        case SupervisorStopped(supervisor=sup, reason=reason):
            return logging.INFO, f"supervisor {sup} stopped: {reason}"
        case ChildStarted(supervisor=sup, child=child, incarnation=n):
            return logging.INFO, f"{sup}/{child} started (incarnation {n})"
        case ChildExited(supervisor=sup, child=child, ran_for=ran_for):
            return logging.INFO, f"{sup}/{child} returned after {ran_for:.3f} s"
        case ChildStopped(supervisor=sup, child=child, why=why):
            return logging.INFO, f"{sup}/{child} stopped: {why}"
        case ChildCrashed(supervisor=sup, child=child, error_type=kind, error=error):
            when = " before it was ready" if event.before_ready else ""
            return logging.WARNING, f"{sup}/{child} crashed{when}: {kind}: {error}"
        case ChildShutdownOverran(supervisor=sup, child=child, timeout=timeout):
            return (
                logging.WARNING,
                f"{sup}/{child} is still cleaning up {timeout} s after it was told to stop",
            )
        case RestartScheduled(supervisor=sup, cause=cause, children=children, delay=delay):
            return (
                logging.INFO,
                f"{sup}: restarting {', '.join(children)} in {delay:.3f} s after {cause} ended",
            )
        case IntensityExceeded(supervisor=sup, restarts=restarts, period=period):
            return logging.ERROR, f"{sup}: {restarts} restarts within {period} s, giving up"
        case FailureEscalated(supervisor=sup, causes=causes):
            return logging.ERROR, f"{sup} gave up and escalates: {', '.join(causes)}"
    return logging.INFO, f"{event.supervisor}: {_event_name(event).replace('_', ' ')}"


def log_supervisor_event(event: SupervisorEvent, *, logger: logging.Logger | None = None) -> None:
    """Log one supervision event as a structured record.

    ``event`` is the snake_case class name (``child_crashed``); every field of the event is
    an extra (``supervisor``, ``child``, ``incarnation``, ``error``, ``why``, ``reason``,
    ..., and ``at``: trio's clock). Crashes and overruns are warnings, giving up is an error.
    """
    level, message = _describe(event)
    extra: dict[str, Any] = {"event": _event_name(event)}
    extra.update((field.name, getattr(event, field.name)) for field in attrs.fields(type(event)))
    # The supervisor's event, whoever logs it (the store, after journaling it).
    extra["actor"] = f"supervisor:{getattr(event, 'supervisor', '-')}"
    (logger or _log).log(level, "%s", message, extra=extra)


def log_event(
    event: object,
    message: str,
    *,
    level: int = logging.INFO,
    logger: logging.Logger | None = None,
    actor: str | None = None,
) -> None:
    """Log any attrs event (a journal message) as a structured record: ``event`` is its
    snake_case class name, each field an extra (ids, states, amounts), ``message`` the
    sentence a person reads. Supervision events have their own sentences: use
    :func:`log_supervisor_event`."""
    extra: dict[str, Any] = {"event": _CAMEL_BOUNDARY.sub("_", type(event).__name__).lower()}
    cls = type(event)
    if attrs.has(cls):
        for field in attrs.fields(cls):
            # A LogRecord attribute cannot be an extra (logging raises): suffix it.
            key = f"{field.name}_" if field.name in _RECORD_ATTRIBUTES else field.name
            extra[key] = getattr(event, field.name)
    if actor is not None:
        extra["actor"] = actor  # whose event it is, when another actor logs it
    (logger or _log).log(level, "%s", message, extra=extra)


async def log_supervisor_events(
    events: trio.MemoryReceiveChannel[SupervisorEvent], *, logger: logging.Logger | None = None
) -> None:
    """Log every event from a supervisor's observer mailbox until it is closed."""
    async for event in events:
        log_supervisor_event(event, logger=logger)
