"""Run the service: ``python -m serving [--host HOST] [--port PORT]`` (uvicorn, one worker)."""

from __future__ import annotations

import argparse

import uvicorn


def main() -> None:
    """Parse host and port and serve `serving.app:create_app`."""
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run("serving.app:create_app", factory=True, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
