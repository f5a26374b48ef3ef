"""Slow and oversized clients against the HTTP receiver (uvicorn on loopback, a real store):
a slowloris that never finishes its headers, or trickles its next request on a kept-alive
connection, is dropped after `[http] header_timeout_seconds`; a body trickled past
`[http] body_timeout_seconds` is answered 408 and the connection closed, with nothing
stored, on the web form, the desk API and Telegram's webhook; a big form is parsed off the
event loop, so /healthz answers meanwhile (issue 11, hostile input).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ingest.channels import webform
from ingest.webhooks import HttpServer
from intake.runtime import Runtime
from store.models import RawMessageRow
from tests.conftest import free_port, make_settings

BOUND = 1.0  # seconds: the test's header and body bounds
PATIENCE = 6.0  # how long a test waits for the server to act (well past BOUND)
FORM_TOKEN = "slow-clients-form-token"
API_TOKEN = "slow-clients-api-token"
TG_SECRET = "slow-clients-telegram-secret"
# path → the headers that get a request past the checks made before its body is read
ROUTES = {
    "/webhooks/webform": {"Content-Type": "application/x-www-form-urlencoded"},
    "/api/entries": {"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"},
    "/webhooks/telegram": {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": TG_SECRET,
    },
}


class Server:
    def __init__(self, runtime: Runtime, host: str, port: int) -> None:
        self.runtime, self.host, self.port = runtime, host, port
        self.url = f"http://{host}:{port}"

    def connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=PATIENCE)
        return sock

    def raws(self) -> int:
        with self.runtime.sessions() as session:
            return session.scalar(select(func.count()).select_from(RawMessageRow)) or 0

    def healthz_seconds(self) -> float:
        started = time.monotonic()
        response = httpx.get(self.url + "/healthz", timeout=PATIENCE)
        assert response.status_code == 200
        return time.monotonic() - started


@pytest.fixture
def server(tmp_path: Path, make_runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("SLOW_FORM_TOKEN", FORM_TOKEN)
    monkeypatch.setenv("INTAKE_API_TOKEN_CALL_CENTRE", API_TOKEN)
    monkeypatch.setenv("SLOW_TG_TOKEN", "123456:slow-clients")
    monkeypatch.setenv("SLOW_TG_SECRET", TG_SECRET)
    port = free_port()
    settings = make_settings(
        tmp_path,
        http={
            "listen": f"127.0.0.1:{port}",
            "header_timeout_seconds": BOUND,
            "body_timeout_seconds": BOUND,
        },
        webform={"form_token_env": "SLOW_FORM_TOKEN", "rate_limit_per_minute": 1000},
        telegram={
            "enabled": True,
            "mode": "webhook",
            "token_env": "SLOW_TG_TOKEN",
            "webhook_secret_env": "SLOW_TG_SECRET",
        },
    )
    runtime = make_runtime(settings)
    http = HttpServer(runtime)
    http.start()
    deadline = time.monotonic() + 10
    while not http.started:
        assert time.monotonic() < deadline and http.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Server(runtime, "127.0.0.1", port)
    finally:
        http.stop()
        http.join(15)


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(whether the server closed the connection within `seconds`, what it sent before)."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        pass
    return True, received


def request_head(path: str, length: int, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- Headers that never complete --------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /webhooks/webform HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/pl"],
    ids=["nothing", "half the headers"],
)
def test_a_connection_whose_headers_never_complete_is_dropped(server, sent):
    with server.connect() as sock:
        sock.sendall(sent)
        started = time.monotonic()

        closed, _ = closed_within(sock, PATIENCE)

    assert closed, f"the connection was still open after {PATIENCE} s"
    assert time.monotonic() - started < BOUND + 2


def test_headers_trickled_a_byte_at_a_time_are_dropped_at_the_bound(server):
    """Each byte would restart uvicorn's own keep-alive timer: the bound counts from the
    connection, not from the last byte."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    with server.connect() as sock:
        started, closed = time.monotonic(), False
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed, _ = closed_within(sock, 0.2)
            if closed or time.monotonic() - started > PATIENCE:
                break

    assert closed, f"the connection was still open after {PATIENCE} s"
    assert time.monotonic() - started < BOUND + 2


def test_the_next_request_on_a_kept_alive_connection_is_bounded_too(server):
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(PATIENCE)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        started, closed = time.monotonic(), False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed, _ = closed_within(sock, 0.2)
            if closed or time.monotonic() - started > PATIENCE:
                break

    assert closed, f"the connection was still open after {PATIENCE} s"


# --- Bodies that trickle ----------------------------------------------------------------------


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_trickled_body_is_408_and_closed_and_nothing_is_stored(server, path):
    with server.connect() as sock:
        sock.sendall(request_head(path, 100_000, ROUTES[path]))
        started, closed, answer = time.monotonic(), False, b""
        while time.monotonic() - started < PATIENCE:
            try:
                sock.sendall(b"a" * 10)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            closed, received = closed_within(sock, 0.2)
            answer += received
            if closed:
                break
        elapsed = time.monotonic() - started
        healthz = server.healthz_seconds()

    assert answer.startswith(b"HTTP/1.1 408"), answer[:200] or f"no answer after {elapsed:.1f} s"
    assert b"connection: close" in answer.lower()
    assert closed and elapsed < BOUND + 2
    assert healthz < 1.0
    assert server.raws() == 0


def test_healthz_answers_at_once_while_slow_clients_hold_connections(server):
    socks = [server.connect() for _ in range(40)]
    try:
        for index, sock in enumerate(socks):
            if index % 2:
                sock.sendall(
                    request_head("/webhooks/webform", 100_000, ROUTES["/webhooks/webform"])
                )
            else:
                sock.sendall(b"POST /webhooks/webform HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        assert server.healthz_seconds() < 1.0
    finally:
        for sock in socks:
            sock.close()


def test_a_body_that_arrives_in_time_is_taken(server):
    """A body that is slow but inside the bound is read as usual (here: refused for its token,
    which is checked after the body is in)."""
    body = b"message=" + b"a" * 2000
    with server.connect() as sock:
        sock.sendall(request_head("/webhooks/webform", len(body), ROUTES["/webhooks/webform"]))
        for start in range(0, len(body), 500):
            sock.sendall(body[start : start + 500])
            time.sleep(0.1)
        _, answer = closed_within(sock, 2)

    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


# --- A big form is parsed off the event loop --------------------------------------------------


def test_healthz_answers_while_a_big_form_is_parsed(server, monkeypatch):
    """The parse is held until /healthz has answered: on the event loop, /healthz would wait
    for it (a 10 MB form is a second of CPU) and time out."""
    entered, release = threading.Event(), threading.Event()
    parse = webform.parse_form

    def held_parse(body: bytes, content_type: str):  # noqa: ANN202
        entered.set()
        release.wait(PATIENCE * 2)
        return parse(body, content_type)

    monkeypatch.setattr(webform, "parse_form", held_parse)
    body = f"form_token={FORM_TOKEN}&message=".encode() + b"a" * (2 << 20)
    answers: list[httpx.Response] = []
    post = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                server.url + "/webhooks/webform",
                content=body,
                headers=ROUTES["/webhooks/webform"],
                timeout=30,
            )
        )
    )
    post.start()
    try:
        assert entered.wait(PATIENCE), "the form never reached parse_form"
        healthz = httpx.get(server.url + "/healthz", timeout=2)
    finally:
        release.set()
        post.join(30)

    assert healthz.status_code == 200
    assert answers and answers[0].status_code != 500
