"""The loopback Coinbase Advanced Trade simulator: an exchange on 127.0.0.1 that speaks the
real REST and WebSocket wire format, so the client is tested end to end without real money.

The matching engine and account model (:mod:`.engine` and the modules it uses) are pure,
synchronous and deterministic; the ASGI app, market generator and fault injection wrap them.
"""

__all__: list[str] = []
