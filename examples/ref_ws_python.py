"""Reference WebSocket echo server on Python `websockets` (asyncio), the
one reference here that speaks permessage-deflate (RFC 7692), for the
compressed scenarios of scripts/bench-compare.sh.

    .venv/bin/python examples/ref_ws_python.py 127.0.0.1:0
    .venv/bin/python examples/ref_ws_python.py 127.0.0.1:0 --compression off

Prints `listening PORT` once bound. Compression as `websockets` configures
it by default (server_max_window_bits=12, memLevel 5, context takeover);
messages up to 1 MiB, as in duplex.
"""

import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main():
    args = sys.argv[1:]
    host, _, port = (args[0] if args and not args[0].startswith("--") else "127.0.0.1:0").rpartition(":")
    compression = None if ["--compression", "off"] in [args[i:i + 2] for i in range(len(args))] else "deflate"
    async with serve(echo, host, int(port), max_size=1 << 20, compression=compression,
                     ping_interval=None) as server:
        print("listening", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
