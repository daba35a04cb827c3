"""The exceptions cjt_actors raises, as one tree.

Everything the package raises on purpose derives from :class:`CjtError`, so a caller can tell
"cjt_actors refused or gave up" from "a bug somewhere". The tree::

    CjtError
    ├── InvalidSpec (also ValueError)      a spec, policy or argument is malformed; raised
    │                                      eagerly, at construction, naming the argument
    ├── DecodeError (also ValueError)      a payload could not be turned into a message;
    │                                      says what was wrong and at which field path
    ├── BookError (orderbook.py)           an L2 book cannot take an input
    │   ├── OffGridValue (also ValueError) a price or size off the product's increments
    │   └── IllegalTransition              a trust-state move the table does not allow
    ├── InvalidTrade (bars.py, ValueError) a trade a bar cannot take
    ├── JournalError (journal.py)          the SQLite journal cannot be used
    │   ├── NotAJournal                    the file is not SQLite, or not a cjt journal
    │   ├── UnsupportedSchema              written by a newer version (names both)
    │   └── UndecodableEntry               a stored payload no longer decodes (names seq)
    ├── LifecycleError (lifecycle.py)      an order event the order's state cannot take
    │   ├── IllegalTransition              not a legal move from this state (stale and
    │   │                                  duplicate events are absorbed, not errors)
    │   ├── OverFill                       fills or a venue report beyond the order's size
    │   └── ConflictingOrderId             a second, different venue order id
    ├── ConfigError (configfile.py)        a config file or table cannot be used; lists
    │                                      every problem with its key path
    ├── FeedRejected (actors/feed.py)      the market-data server keeps refusing the
    │                                      subscription (error frames): the feed crashes
    ├── OrdersRemainOpen (execution.py)    the emergency cancel-all ended with orders still
    │                                      working at the venue (exit code 4)
    ├── SupervisionError                   the supervision tree could not keep running
    │   ├── ChildStartError                a child failed before it reported ready
    │   └── SupervisorGaveUp               restart intensity exceeded: the supervisor stopped
    │                                      its children and escalates to its parent
    └── ExchangeError                      talking to the exchange failed
        ├── CredentialsError               an API key is missing, malformed or badly stored;
        │                                  the message never contains key material
        ├── TransportError                 no answer: connection refused or dropped, timeout
        ├── ResponseError                  an answer we cannot use: HTML or broken JSON where
        │                                  JSON was expected, or a JSON shape we do not know
        └── HTTPStatusError                the exchange answered with an error status
            ├── BadRequest                 400: a bad argument (its `error` says which)
            ├── Unauthorized               401: missing, expired or invalid JWT
            ├── PermissionDenied           403: the key lacks a scope or portfolio access
            ├── NotFound                   404: unknown order, product or route
            ├── RateLimited                429: too many requests (body may be HTML)
            └── ServerError                5xx: the exchange failed; retryable

An order placement that the exchange refuses is *not* an exception: it arrives as HTTP 200
with ``success: false`` and the client returns it as a typed rejection value. Nor is an
order placement whose fate is unknown (a timeout after the request left): that is an
"outcome unknown" value, never a rejection, so nobody mistakes "maybe placed" for "not placed".

Two rules keep the tree honest:

* Validation problems in *messages* (an order a risk check refuses, say) are not exceptions:
  they are reply events on a channel (Akka's distinction between validation errors and
  failures). Exceptions are for failures: something is broken and the actor should crash.
* An exception that wraps others (``SupervisorGaveUp``) keeps them: the causes are an
  attribute and the ``__cause__`` is an ``ExceptionGroup`` of them, so nothing is lost when
  concurrency is hidden behind one domain error.

Later parts of the project add their branches here, each drawn above when it lands. A branch whose classes belong to one module's state machine lives in
that module (named above) so it reads next to the table it enforces.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BadRequest",
    "ChildStartError",
    "CjtError",
    "CredentialsError",
    "DecodeError",
    "ExchangeError",
    "HTTPStatusError",
    "InvalidSpec",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ResponseError",
    "ServerError",
    "SupervisionError",
    "SupervisorGaveUp",
    "TransportError",
    "Unauthorized",
]


class CjtError(Exception):
    """Base of every exception cjt_actors raises on purpose."""


class InvalidSpec(CjtError, ValueError):
    """A specification or argument is malformed.

    Raised when the object is built, not when it is first used, so a bad supervision tree
    fails at start-up with a message that names the argument, the value and the rule.
    """


class DecodeError(CjtError, ValueError):
    """A payload could not be decoded; the message names the field path and the problem."""


class SupervisionError(CjtError):
    """The supervision tree could not keep a child (or itself) running."""


class ChildStartError(SupervisionError):
    """A child raised before it called ``task_status.started()``.

    During the supervisor's own start this fails the start (OTP: a failing ``init`` fails the
    supervisor's ``start_link``). The original exception is the ``__cause__``.

    Attributes:
        supervisor: path of the supervisor that was starting the child.
        child: name of the child that failed.
    """

    def __init__(self, supervisor: str, child: str) -> None:
        super().__init__(f"child {child!r} of supervisor {supervisor!r} failed before it was ready")
        self.supervisor = supervisor
        self.child = child


class SupervisorGaveUp(SupervisionError):
    """More than ``intensity`` restarts fell within ``period``: the supervisor gave up.

    It has stopped all its remaining children (in reverse start order) before raising. Its
    parent treats this like any child failure, which is how a crash loop escalates up the tree.

    Attributes:
        supervisor: path of the supervisor that gave up.
        causes: the child failures inside the last window, oldest first (also the
            ``__cause__``, as an ``ExceptionGroup``). Restarts of PERMANENT children that
            returned normally count toward the window but carry no exception.
        restarts: the restarts in the window, the one that overflowed it included.
    """

    def __init__(self, supervisor: str, causes: Sequence[Exception], *, restarts: int) -> None:
        names = ", ".join(sorted({type(c).__name__ for c in causes})) or "normal exits only"
        super().__init__(
            f"supervisor {supervisor!r} gave up: {restarts} restarts within its window, "
            f"{len(causes)} of them after failures ({names})"
        )
        self.supervisor = supervisor
        self.causes: tuple[Exception, ...] = tuple(causes)
        self.restarts = restarts


class ExchangeError(CjtError):
    """Talking to the exchange (or the simulator) failed."""


class CredentialsError(ExchangeError):
    """An API key is missing, malformed, of an unsupported type, or stored insecurely.

    The message says what is wrong and where (which variable, which file, which field) and
    never contains the key name, the private key or a token.
    """


class TransportError(ExchangeError):
    """The request got no answer: connection refused or dropped, or a timeout.

    For a request that changes state (an order placement) this does *not* mean it failed:
    the exchange may have acted on it. Callers that care check before retrying.

    Attributes:
        method, path: the request (path without query string).
    """

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {message}")
        self.method = method
        self.path = path


class ResponseError(ExchangeError):
    """The exchange answered, but not with something we can read.

    Attributes:
        method, path: the request (path without query string).
        status: the HTTP status of the answer.
        excerpt: a short, single-line excerpt of the body (an HTML page's title, or the
            first characters), for the operator; never the request's headers.
    """

    def __init__(
        self, message: str, *, method: str, path: str, status: int, excerpt: str = ""
    ) -> None:
        detail = f" (body: {excerpt})" if excerpt else ""
        super().__init__(f"{method} {path} -> {status}: {message}{detail}")
        self.method = method
        self.path = path
        self.status = status
        self.excerpt = excerpt


class HTTPStatusError(ExchangeError):
    """The exchange answered with an HTTP error status.

    Attributes:
        status: the HTTP status.
        method, path: the request (path without query string).
        error: the exchange's error code (``INVALID_ARGUMENT``, ``NOT_FOUND``...), or "".
        details: the exchange's ``error_details`` / ``message`` text, or a body excerpt.
    """

    def __init__(
        self, *, status: int, method: str, path: str, error: str = "", details: str = ""
    ) -> None:
        what = " ".join(part for part in (error, details) if part) or "no details"
        super().__init__(f"{method} {path} -> {status}: {what}")
        self.status = status
        self.method = method
        self.path = path
        self.error = error
        self.details = details


class BadRequest(HTTPStatusError):
    """400: the exchange refused an argument; ``error``/``details`` say which."""


class Unauthorized(HTTPStatusError):
    """401: missing, expired or invalid JWT (wrong key, clock skew, wrong ``uri`` claim)."""


class PermissionDenied(HTTPStatusError):
    """403: the key lacks a scope (``can_trade``...) or access to the portfolio."""


class NotFound(HTTPStatusError):
    """404: unknown order, product or route."""


class RateLimited(HTTPStatusError):
    """429: too many requests. The body may be an HTML page rather than JSON."""


class ServerError(HTTPStatusError):
    """5xx: the exchange failed. Safe to retry only for idempotent requests."""
