"""A client for examples/echo written with Python's websockets library.

Usage: /usr/bin/python3 echo_client.py ws://127.0.0.1:PORT/ws

It says which extensions the server accepted (websockets offers
permessage-deflate by default), sends one text and one binary message and
a longer text that compresses well, checks that each comes back unchanged
and with its type, then closes with 1000 and checks the close handshake
completed with 1000. It prints one line per step and exits 0 only if every
check held. Written for the websockets Debian 12 ships (10.4) and newer,
whose connect() takes the same arguments.
"""

import asyncio
import sys

import websockets

TIMEOUT = 10  # seconds, for every step


async def main(url):
    # The defaults are kept on purpose: websockets offers permessage-deflate,
    # as browsers do.
    async with websockets.connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        print("connected")
        print("extensions:", ws.response_headers.get("Sec-WebSocket-Extensions", "none"))

        text = "héllo, 世界"
        await ws.send(text)
        reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if reply != text:
            raise SystemExit(f"text echo: got {reply!r}, want {text!r}")
        print("text ok")

        data = bytes(range(256)) * 4
        await ws.send(data)
        reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if reply != data:
            raise SystemExit(f"binary echo: got {type(reply).__name__} of {len(reply)}, want bytes of {len(data)}")
        print("binary ok")

        long = " ".join(f'{{"event":"vote","id":{i},"text":"你好，世界"}}' for i in range(500))
        for _ in range(3):
            await ws.send(long)
            reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
            if reply != long:
                raise SystemExit(f"long text echo: got {len(reply)} characters, want {len(long)}")
        print("long text ok")

        await ws.close(code=1000, reason="python done")
        # close_code is the code the server sent back; 1000 means the
        # closing handshake completed cleanly on both sides.
        if ws.close_code != 1000:
            raise SystemExit(f"close: server answered {ws.close_code}, want 1000")
        print(f"closed {ws.close_code}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(f"websockets {websockets.__version__}")
    asyncio.run(main(sys.argv[1]))
