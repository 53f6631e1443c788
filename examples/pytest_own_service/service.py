"""A small "own service" to test with brownout from pytest: one endpoint that asks an LLM.

It is written the way a team's service usually is: the official ``openai`` SDK, configured by
the standard environment variables (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``), with its own
timeout and the SDK's retries. It knows nothing of brownout.

    POST /ask {"question": "..."}  ->  200 {"answer": "..."}
                                       502 {"error": "provider_error"}   the provider failed
                                       504 {"error": "provider_timeout"} it took too long
    GET /healthz                   ->  200 {"status": "ok"}

Run: ``OPENAI_BASE_URL=http://127.0.0.1:8001/v1 python service.py --port 8080``; with
``--port 0`` it picks a free port and prints ``BROWNOUT_READY http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai

TIMEOUT_S = float(os.environ.get("ASK_TIMEOUT_S", "2.0"))
MAX_RETRIES = int(os.environ.get("ASK_MAX_RETRIES", "2"))

client = openai.OpenAI(
    api_key=os.environ.get("OPENAI_API_KEY", "test-key"),
    timeout=TIMEOUT_S,
    max_retries=MAX_RETRIES,
)


def ask(question: str) -> tuple[int, dict[str, Any]]:
    try:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
    except openai.APITimeoutError:
        return 504, {"error": "provider_timeout"}
    except openai.APIError as exc:
        return 502, {"error": "provider_error", "detail": type(exc).__name__}
    return 200, {"answer": reply.choices[0].message.content or ""}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            question = str(json.loads(self.rfile.read(length))["question"])
        except (ValueError, KeyError, TypeError):
            self._send(400, {"error": 'expected {"question": "..."}'})
            return
        if self.path != "/ask":
            self._send(404, {"error": "not_found"})
            return
        self._send(*ask(question))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: one line per request would drown the logs under load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"BROWNOUT_READY http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
