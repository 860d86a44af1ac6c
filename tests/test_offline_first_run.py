"""A first run without internet: a failed ResNet-50 download pins nothing, the offline model then
just works, and commands that need no model download none. Nothing here reaches the internet:
the ResNet-50 URL points at a server on 127.0.0.1 that answers 404, or at nothing."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from simdesk.cli import main
from simdesk.core.library import Library


class _NotFound(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self):  # noqa: N802
        type(self).requests += 1
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def offline(monkeypatch):
    """ResNet-50's URL on a local server that has no such file; yields the request counter."""
    _NotFound.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("SIMDESK_RESNET50_URL", f"http://127.0.0.1:{server.server_port}/resnet50.pth")
    yield _NotFound
    server.shutdown()
    server.server_close()


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_failed_download_pins_nothing_and_the_offline_model_then_just_works(
        library_dir, models_dir, photo_folder, offline, capsys):
    code, out, err = run(capsys, "index", str(photo_folder))
    assert code == 1 and "could not download the ResNet-50 weights" in err
    assert "simdesk models install efficientnet-lite0" in err and offline.requests >= 1
    assert not Library(library_dir).model_chosen  # the failed download saved no choice

    code, out, err = run(capsys, "models", "install", "efficientnet-lite0")
    assert code == 0, err
    code, out, err = run(capsys, "index")
    assert code == 0, err
    assert "Using the installed offline model" in err and "7 indexed" in err
    assert Library(library_dir).model_name == "efficientnet-lite0"


@pytest.mark.slow
def test_a_library_an_older_simdesk_pinned_to_resnet50_before_the_download_failed(
        library_dir, models_dir, photo_folder, offline, capsys):
    library = Library(library_dir)
    library.add_folder(photo_folder)
    library.set_model("resnet50")  # what the old first run saved, then the download failed
    library.close()
    from simdesk.core.models import catalog as models

    models.install_efficientnet_lite0()
    code, out, err = run(capsys, "index")
    assert code == 0, err
    assert "Using the installed offline model" in err and offline.requests == 0


def test_an_explicit_model_that_fails_to_download_is_not_saved(library_dir, models_dir, photo_folder,
                                                                offline, capsys):
    code, out, err = run(capsys, "index", str(photo_folder), "--model", "resnet50")
    assert code == 1 and "could not download" in err
    assert not Library(library_dir).model_chosen


def test_commands_that_need_no_model_download_none(library_dir, models_dir, monkeypatch, capsys):
    # No server at all: any attempt to download would fail loudly, and is counted.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SIMDESK_RESNET50_URL", f"http://127.0.0.1:{port}/resnet50.pth")
    from simdesk.core.models import catalog

    def no_download(*args, **kwargs):
        raise AssertionError("a model download was started")

    monkeypatch.setattr(catalog, "install_resnet50", no_download)
    code, out, err = run(capsys, "duplicates")
    assert code == 0, err
    assert "No photos in the library yet" in out
    code, out, err = run(capsys, "duplicates", "--json")
    assert code == 0 and json.loads(out)["groups"] == []
    for argv in (["status"], ["problems"], ["folders"], ["models", "list"], ["undo", "--list"],
                 ["reference"]):
        code, out, err = run(capsys, *argv)
        assert code == 0, (argv, err)
    assert not (models_dir / "downloads").exists()
