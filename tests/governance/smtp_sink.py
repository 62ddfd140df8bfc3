"""A small SMTP server on loopback (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA) that keeps what it got."""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


@dataclass
class Received:
    connections: int = 0
    auths: list[tuple[str, str]] = field(default_factory=list)
    envelopes: list[dict[str, Any]] = field(default_factory=list)  # {"from", "to": [...], "data"}
    transcript: list[bytes] = field(default_factory=list)  # every line a client sent

    def everything(self) -> str:
        return b"".join(self.transcript).decode(errors="replace")


class SmtpSink:
    """``with SmtpSink() as sink:`` listens on ``sink.port`` until the block ends."""

    def __init__(self) -> None:
        self.received = Received()
        received = self.received

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                received.connections += 1
                self.reply("220 sink ESMTP")
                envelope: dict[str, Any] = {"to": []}
                data: list[bytes] | None = None
                login_user: str | None = None
                awaiting: str | None = None
                for raw in self.rfile:
                    received.transcript.append(raw)
                    if data is not None:
                        if raw in (b".\r\n", b".\n"):
                            envelope["data"] = b"".join(data).decode(errors="replace")
                            received.envelopes.append(envelope)
                            envelope, data = {"to": []}, None
                            self.reply("250 queued")
                        else:
                            data.append(raw)
                        continue
                    line = raw.decode(errors="replace").strip()
                    if awaiting == "user":
                        login_user, awaiting = base64.b64decode(line).decode(), "password"
                        self.reply("334 UGFzc3dvcmQ6")
                        continue
                    if awaiting == "password":
                        received.auths.append((login_user or "", base64.b64decode(line).decode()))
                        awaiting = None
                        self.reply("235 accepted")
                        continue
                    verb = line[:4].upper()
                    if verb == "EHLO":
                        self.wfile.write(b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                    elif line.upper().startswith("AUTH PLAIN"):
                        parts = line.split(" ", 2)
                        _, user, password = base64.b64decode(parts[2]).decode().split("\0")
                        received.auths.append((user, password))
                        self.reply("235 accepted")
                    elif line.upper().startswith("AUTH LOGIN"):
                        awaiting = "user"
                        self.reply("334 VXNlcm5hbWU6")
                    elif verb == "MAIL":
                        envelope["from"] = line
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        envelope["to"].append(line.split(":", 1)[1].strip(" <>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        data = []
                        self.reply("354 go ahead")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])

    def __enter__(self) -> SmtpSink:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
