"""The Coinbase Advanced Trade client: authentication, REST and WebSocket, on trio.

Modules: :mod:`.auth` (CDP keys and JWTs). REST, WebSocket and the rate limiter arrive with
the rest of the client.
"""
