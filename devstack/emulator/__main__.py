"""`python -m devstack.emulator`: run the emulator in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from devstack.emulator.server import MemoriesEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766, help="0 picks a free port")
    parser.add_argument("--api-key", default="local-test-key", help="the only Authorization value accepted")
    parser.add_argument(
        "--uploads-per-minute", type=float, default=None, help="upload rate limit (default: none)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with MemoriesEmulator(
        args.api_key, args.host, args.port, uploads_per_minute=args.uploads_per_minute
    ) as emulator:
        # On stdout so that a script that started us can read the address (port 0 picks one).
        print(emulator.base_url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
