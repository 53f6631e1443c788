"""A service whose provider behaviour is known exactly, for the ground-truth tests.

``POST /ask`` makes one chat completion against ``--provider-url`` and answers 200 with the
text, or 502 when the provider call finally failed. The retry policy is the only thing that
varies, and it is known exactly:

* ``--client httpx --retries N``: a plain httpx call, retried immediately on any 5xx or
  connection error, at most N times: exactly N+1 attempts per request under 100% 500s.
* ``--client openai``: the official ``openai`` SDK with its default retries (``max_retries=2``:
  3 attempts under 100% 500s, with the SDK's own exponential backoff).

Every call carries the user request's ``X-Request-Id``, so brownout can attribute each call to
its request. It is not a brownout module (it imports nothing from harness); scenarios start it
by path. It prints ``BROWNOUT_READY <url>`` once it listens and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import httpx

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 8}


class Caller:
    """One provider call per user request, through the configured client and policy."""

    def __init__(self, client: str, provider_url: str, retries: int) -> None:
        self.kind = client
        self.retries = retries
        self.url = provider_url.rstrip("/") + "/chat/completions"
        self.http = httpx.Client(timeout=10.0, trust_env=False)
        self.sdk: Any = None
        if client == "openai":
            import openai  # only when asked: it takes seconds to import on a busy machine

            # Defaults on purpose: the SDK's own retry count and backoff are the ground truth.
            self.sdk = openai.OpenAI(
                base_url=provider_url,
                api_key="test-key",
                http_client=httpx.Client(timeout=10.0, trust_env=False),
            )

    def ask(self, request_id: str) -> str | None:
        headers = {"X-Request-Id": request_id}
        if self.kind == "openai":
            import openai

            try:
                reply = self.sdk.chat.completions.create(
                    model=BODY["model"],
                    messages=[{"role": "user", "content": "ping"}],
                    max_tokens=8,
                    extra_headers=headers,
                )
            except openai.APIError:
                return None
            return reply.choices[0].message.content or ""
        for _ in range(self.retries + 1):
            try:
                response = self.http.post(self.url, json=BODY, headers=headers)
            except httpx.HTTPError:
                continue
            if response.status_code < 500:
                data: Any = response.json()
                return str(data["choices"][0]["message"]["content"])
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="groundtruth_sut")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--provider-url", required=True, help="OpenAI base URL, ending in /v1")
    parser.add_argument("--client", choices=("httpx", "openai"), default="httpx")
    parser.add_argument("--retries", type=int, default=3)
    args = parser.parse_args(argv)
    caller = Caller(args.client, args.provider_url, args.retries)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._send(200 if self.path == "/healthz" else 404, {"ok": self.path == "/healthz"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            answer = caller.ask(self.headers.get("X-Request-Id") or "")
            if answer is None:
                self._send(502, {"error": "provider failed"})
            else:
                self._send(200, {"answer": answer})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"BROWNOUT_READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
