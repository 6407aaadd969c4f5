"""A WebSocket echo server on the `websockets` library, for one or more
clients, that reports what it sees as JSON lines on stdout:

    {"listening": PORT}                                  once bound
    {"request": PATH, "headers": {name: value}}          each handshake
    {"type": "text"|"binary", "data": text-or-hex}       each message
    {"close": CODE}                                      each client's close

    ws_echo_server.py [LIFETIME_SECONDS] [--no-compression] [--tls CERT KEY]

A text message `zeros N` is answered with N zero bytes (binary) instead
of its echo: a message that compresses to almost nothing.
The library agrees to permessage-deflate when a client offers it, unless
--no-compression; the handshake line carries the answer's
Sec-WebSocket-Extensions as "extensions".

With --tls it speaks wss:// with that certificate and key (PEM files).

It binds 127.0.0.1 on an ephemeral port and exits after LIFETIME_SECONDS
(default 30), so it never outlives a test.
"""

import asyncio
import json
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def emit(obj):
    print(json.dumps(obj), flush=True)


async def echo(ws):
    req = ws.request
    emit(
        {
            "request": req.path,
            "headers": {k.lower(): v for k, v in req.headers.raw_items()},
            "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
        }
    )
    try:
        async for m in ws:
            if isinstance(m, str):
                emit({"type": "text", "data": m})
            else:
                emit({"type": "binary", "data": m.hex()})
            if isinstance(m, str) and m.startswith("zeros "):
                await ws.send(bytes(int(m.split()[1])))
            else:
                await ws.send(m)
    except ConnectionClosed:
        pass
    emit({"close": ws.close_code})


def select_subprotocol(conn, offered):
    return offered[0] if offered else None


async def main(lifetime, compression, tls):
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls[0], tls[1])
    async with serve(
        echo,
        "127.0.0.1",
        0,
        select_subprotocol=select_subprotocol,
        compression=compression,
        max_size=None,
        ssl=context,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"listening": port})
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    argv = sys.argv[1:]
    tls = None
    if "--tls" in argv:
        at = argv.index("--tls")
        tls = argv[at + 1 : at + 3]
        del argv[at : at + 3]
    args = [a for a in argv if not a.startswith("--")]
    compression = None if "--no-compression" in argv else "deflate"
    asyncio.run(main(float(args[0]) if args else 30, compression, tls))
