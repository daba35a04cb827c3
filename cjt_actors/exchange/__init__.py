"""The Coinbase Advanced Trade client: authentication, REST and WebSocket, on trio.

* :mod:`.auth`: CDP keys (ES256, Ed25519) and the JWTs every request carries;
* :mod:`.rest`: the REST client on httpx (typed results in :mod:`.models`, the rate limiter
  in :mod:`.ratelimit`);
* :mod:`.ws`: the WebSocket client (connect, subscribe, watch, reconnect), with the frame
  decoders and the items it hands out in :mod:`.stream`.
"""

__all__: list[str] = []
