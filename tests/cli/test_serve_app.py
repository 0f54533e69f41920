"""`ecom serve app`'s own checks. Serving the API and the app and stopping both with Ctrl-C
(what `make demo` ends with) is driven in tests/app/test_browser.py, whose browser uses them."""

from __future__ import annotations

from typer.testing import CliRunner

from pipeline.cli import app


def test_serve_app_refuses_a_taken_port(tmp_path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(
            app, ["serve", "app", "--port", str(port), "--data-dir", str(tmp_path)]
        )
    assert result.exit_code == 1
    assert f"Port {port} on 127.0.0.1 is taken" in result.output
