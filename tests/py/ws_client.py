"""A WebSocket client on the `websockets` library, driven by a script.

    ws_client.py URL [--no-compression] < steps.json

The steps are a JSON list, run in order:
    {"send": "text"}          send a text message
    {"send_hex": "00ff"}      send a binary message
    {"send_zeros": N}         send a binary message of N zero bytes
    {"recv": N}               receive N messages
    {"wait_close": true}      wait for the server to close
    {"close": true}           close with code 1000
Every message received is one JSON line on stdout,
{"type": "text"|"binary", "data": text-or-hex}, and the end of the connection
is {"close": CODE, "reason": REASON}. The first line says what the
handshake agreed: {"subprotocol": …, "extensions": the server's
Sec-WebSocket-Extensions or null}. The library offers permessage-deflate
unless --no-compression. Every wait is bounded.
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 10


def emit(obj):
    print(json.dumps(obj), flush=True)


def closed(ws):
    emit({"close": ws.close_code, "reason": ws.close_reason})


async def main(url, steps, compression):
    async with connect(
        url,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        max_size=None,
        compression=compression,
    ) as ws:
        emit(
            {
                "subprotocol": ws.subprotocol,
                "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
            }
        )
        for step in steps:
            if "send" in step:
                await ws.send(step["send"])
            elif "send_hex" in step:
                await ws.send(bytes.fromhex(step["send_hex"]))
            elif "send_zeros" in step:
                try:
                    await ws.send(bytes(step["send_zeros"]))
                except ConnectionClosed:
                    pass
            elif "recv" in step:
                for _ in range(step["recv"]):
                    try:
                        m = await asyncio.wait_for(ws.recv(), TIMEOUT)
                    except ConnectionClosed:
                        closed(ws)
                        return
                    if isinstance(m, str):
                        emit({"type": "text", "data": m})
                    else:
                        emit({"type": "binary", "data": m.hex()})
            elif "wait_close" in step:
                try:
                    m = await asyncio.wait_for(ws.recv(), TIMEOUT)
                    emit({"unexpected": repr(m)})
                except ConnectionClosed:
                    pass
                await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
                closed(ws)
                return
            elif "close" in step:
                await ws.close(1000)
                closed(ws)
                return
        await ws.close(1000)
        closed(ws)


if __name__ == "__main__":
    compression = None if "--no-compression" in sys.argv[2:] else "deflate"
    asyncio.run(asyncio.wait_for(main(sys.argv[1], json.load(sys.stdin), compression), 60))
