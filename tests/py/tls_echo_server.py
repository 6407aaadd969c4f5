"""A TLS echo server on Python's ssl module, for `duplex connect tls://`.

    tls_echo_server.py CERT KEY [CONNECTIONS]

Listens on 127.0.0.1 (a free port, printed as `port N` on stdout), serves
CONNECTIONS clients one after the other (default 1), echoing every byte
until the client closes, then exits. Every wait is bounded.
"""

import socket
import ssl
import sys

TIMEOUT = 10


def main(cert, key, connections):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        print(f"port {listener.getsockname()[1]}", flush=True)
        for _ in range(connections):
            raw, _ = listener.accept()
            raw.settimeout(TIMEOUT)
            try:
                with ctx.wrap_socket(raw, server_side=True) as tls:
                    while True:
                        data = tls.recv(65536)
                        if not data:
                            break
                        tls.sendall(data)
                    # close_notify, as a well-behaved TLS server ends.
                    tls.unwrap()
            except (ssl.SSLError, OSError) as e:
                # A client that refuses our certificate ends its handshake.
                print(f"client error: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
