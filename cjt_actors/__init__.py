"""cjt_actors: CryptoJ Trader as a supervised actor system on trio.

The public API, by layer (each name is defined in the module beside it):

* supervision: :class:`Supervisor`, :class:`ChildSpec`, :class:`ChildContext` and the
  policies :class:`Strategy`, :class:`Restart`, :class:`Intensity`, :class:`Backoff`,
  :class:`AutoShutdown` (:mod:`cjt_actors.supervisor`, :mod:`cjt_actors.policy`);
* mailboxes: :class:`Mailbox`, :class:`Overflow` (:mod:`cjt_actors.channels`);
* the emergency protocol: :class:`Root`, :class:`ExitCode` (:mod:`cjt_actors.emergency`);
* messages and errors: :mod:`cjt_actors.messages` (base and supervision),
  :mod:`cjt_actors.market_messages`, :mod:`cjt_actors.order_messages`, :mod:`cjt_actors.errors`.
"""

from . import market_messages as market_messages  # registers the market-data messages
from . import order_messages as order_messages  # registers the trading messages
from ._version import __version__ as __version__
from .channels import Mailbox as Mailbox
from .channels import MailboxStatistics as MailboxStatistics
from .channels import Outbox as Outbox
from .channels import Overflow as Overflow
from .child import ChildContext as ChildContext
from .child import ChildFunction as ChildFunction
from .child import ChildSpec as ChildSpec
from .emergency import ExitCode as ExitCode
from .emergency import Root as Root
from .emergency import RootOutcome as RootOutcome
from .errors import ChildStartError as ChildStartError
from .errors import CjtError as CjtError
from .errors import InvalidSpec as InvalidSpec
from .errors import SupervisionError as SupervisionError
from .errors import SupervisorGaveUp as SupervisorGaveUp
from .policy import AutoShutdown as AutoShutdown
from .policy import Backoff as Backoff
from .policy import Intensity as Intensity
from .policy import Restart as Restart
from .policy import Strategy as Strategy
from .supervisor import ChildState as ChildState
from .supervisor import Supervisor as Supervisor

__all__ = [
    "AutoShutdown",
    "Backoff",
    "ChildContext",
    "ChildFunction",
    "ChildSpec",
    "ChildStartError",
    "ChildState",
    "CjtError",
    "ExitCode",
    "Intensity",
    "InvalidSpec",
    "Mailbox",
    "MailboxStatistics",
    "Outbox",
    "Overflow",
    "Restart",
    "Root",
    "RootOutcome",
    "Strategy",
    "SupervisionError",
    "Supervisor",
    "SupervisorGaveUp",
    "__version__",
]
