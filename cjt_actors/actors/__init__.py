"""The actors of the trading tree (DESIGN §2), one module each.

Every actor is an attrs class holding its dependencies (mailboxes, rules, callbacks) with one
entry point, ``async def run(self, ctx, *, task_status)``; its state is built inside ``run``,
so a restart starts from a clean state (OTP's ``init``) plus whatever it recovers on purpose.
"""

__all__: list[str] = []
