"""A real SMTP server for vigie-alert's e-mail tests, on aiosmtpd.

Listens on 127.0.0.1 (port 0 by default: the system picks a free one), in clear,
with STARTTLS (--starttls, required before MAIL) or with implicit TLS (--tls),
optionally requiring AUTH PLAIN/LOGIN with one user and password. Each message
received is written to --out as <n>.eml (written whole, then renamed, so a reader
never sees half a file) before the 250 reply. Prints "READY <port>" once listening,
and runs until killed.

aiosmtpd's Controller is not used: its readiness check connects to the configured
port, so it cannot listen on port 0. The server is created on the event loop
directly, as the Controller does.
"""

import argparse
import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Writer:
    """Writes each message, as received, to the output directory."""

    def __init__(self, out):
        self.out = out
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        path = os.path.join(self.out, f"{n:04}.eml")
        with open(path + ".part", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(path + ".part", path)
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if auth_data.login == user.encode() and auth_data.password == password.encode():
            return AuthResult(success=True, auth_data=auth_data)
        # Not handled: aiosmtpd answers "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=False, handled=False)

    return check


async def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True, help="directory for the .eml files")
    parser.add_argument("--cert", help="certificate chain, PEM")
    parser.add_argument("--key", help="private key, PEM")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--starttls", action="store_true", help="offer and require STARTTLS")
    mode.add_argument("--tls", action="store_true", help="implicit TLS")
    parser.add_argument("--user", help="require AUTH with this user")
    parser.add_argument("--password", help="and this password")
    args = parser.parse_args()

    context = None
    if args.starttls or args.tls:
        if not (args.cert and args.key):
            parser.error("--starttls and --tls need --cert and --key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    kwargs = {"hostname": "localhost"}
    if args.starttls:
        kwargs.update(tls_context=context, require_starttls=True)
    if args.user is not None:
        kwargs.update(
            authenticator=authenticator(args.user, args.password or ""),
            auth_required=True,
            # Under implicit TLS aiosmtpd does not know the connection is
            # encrypted, and would not offer AUTH if it had to be under TLS.
            auth_require_tls=not args.tls,
        )

    handler = Writer(args.out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **kwargs),
        host="127.0.0.1",
        port=args.port,
        ssl=context if args.tls else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
