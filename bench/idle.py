#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one GET on each and
reads its answer, then keeps them all idle until stdin closes (or a signal).
Prints READY <open> <failed> when every connection has its answer.

usage: idle.py HOST PORT PATH N
"""
import asyncio
import sys

HOST, PORT, PATH, N = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
REQ = f"GET {PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


async def one(sem, conns):
    async with sem:
        try:
            return await asyncio.wait_for(exchange(conns), 20)
        except Exception:
            return False


async def exchange(conns):
    if True:
        if True:
            r, w = await asyncio.open_connection(HOST, PORT)
            w.write(REQ)
            await w.drain()
            head = await r.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await r.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                w.close()
                return False
            conns.append(w)
            return True


async def main():
    sem = asyncio.Semaphore(256)
    conns = []
    results = await asyncio.gather(*(one(sem, conns) for _ in range(N)))
    print(f"READY {sum(results)} {N - sum(results)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for w in conns:
        w.close()


asyncio.run(main())
