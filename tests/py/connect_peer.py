"""WebSocket servers that behave in the ways `duplex connect` must handle,
on the `websockets` library (raw asyncio streams for `deaf`):

    connect_peer.py push MS         send "tick N" every MS milliseconds
    connect_peer.py silent          never send anything
    connect_peer.py close CODE [REASON]
                                    close at once with CODE (and REASON)
    connect_peer.py deaf            complete the handshake, then ignore
                                    everything: never answer a close

Reports as JSON lines on stdout:

    {"listening": PORT}                      once bound
    {"request": PATH}                        each handshake
    {"close": CODE, "reason": REASON}        each client's close (not deaf)

It binds 127.0.0.1 on an ephemeral port and exits after 30 seconds, so it
never outlives a test.
"""

import asyncio
import base64
import hashlib
import json
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

LIFETIME = 30
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def emit(obj):
    print(json.dumps(obj), flush=True)


def handler(mode, args):
    async def handle(ws):
        emit({"request": ws.request.path})
        try:
            if mode == "push":
                n = 0
                while True:
                    await asyncio.sleep(int(args[0]) / 1000)
                    n += 1
                    await ws.send(f"tick {n}")
            elif mode == "close":
                await ws.close(int(args[0]), args[1] if len(args) > 1 else "")
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        emit({"close": ws.close_code, "reason": ws.close_reason})

    return handle


async def deaf(reader, writer):
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    emit({"request": lines[0].split(" ")[1]})
    key = next(
        line.split(":", 1)[1].strip()
        for line in lines
        if line.lower().startswith("sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    while await reader.read(65536):
        pass


async def main(mode, args):
    if mode == "deaf":
        server = await asyncio.start_server(deaf, "127.0.0.1", 0)
        emit({"listening": server.sockets[0].getsockname()[1]})
        await asyncio.sleep(LIFETIME)
        return
    async with serve(handler(mode, args), "127.0.0.1", 0) as server:
        emit({"listening": next(iter(server.sockets)).getsockname()[1]})
        await asyncio.sleep(LIFETIME)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
