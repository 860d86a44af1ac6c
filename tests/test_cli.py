"""The `simdesk` command, run in-process and as a real subprocess."""

import json
import os
import subprocess
import sys

import pytest

from conftest import TINY_MODEL, build_tiny_onnx
from simdesk.cli import main


@pytest.fixture
def cli_library(library_dir, tiny_model):
    return library_dir


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_similar_status_round_trip(cli_library, photo_folder, capsys):
    code, out, err = run(capsys, "index", str(photo_folder), "--model", TINY_MODEL)
    assert code == 0, err
    assert "7 indexed" in err
    assert "on CPUExecutionProvider" in err

    code, out, err = run(capsys, "similar", str(photo_folder / "photo_0.jpg"), "-k", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["query"] == str(photo_folder / "photo_0.jpg")
    assert data["model"] == TINY_MODEL
    assert len(data["results"]) == 3
    assert all(set(r) == {"path", "similarity"} for r in data["results"])

    code, out, err = run(capsys, "similar", str(photo_folder / "photo_0.jpg"), "-k", "2")
    assert code == 0 and out.count(".jpg") + out.count(".png") >= 3

    code, out, err = run(capsys, "status", "--json")
    status = json.loads(out)
    assert status["photos"] == 7 and status["embedded"] == 7 and status["model"] == TINY_MODEL


def test_similar_to_several_photos_narrowed(cli_library, photo_folder, capsys):
    assert run(capsys, "index", str(photo_folder), "--model", TINY_MODEL)[0] == 0
    a, b = str(photo_folder / "photo_0.jpg"), str(photo_folder / "photo_3.jpg")
    code, out, err = run(capsys, "similar", a, b, "-k", "10", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["queries"] == [a, b] and len(data["results"]) == 5
    cut = data["results"][1]["similarity"]
    code, out, err = run(capsys, "similar", a, b, "--min", str(cut - 1e-6), "--json")
    assert [r["path"] for r in json.loads(out)["results"]] == [r["path"] for r in data["results"][:2]]
    code, out, err = run(capsys, "similar", a, "--folder", str(photo_folder / "sub"))
    assert code == 0 and "nested.png" in out and "photo_1.jpg" not in out
    with pytest.raises(SystemExit):
        main(["similar", a, "--min", "2"])
    assert "between -1 and 1" in capsys.readouterr().err


def test_index_reports_skipped_files_and_problems_lists_them(cli_library, photo_folder, capsys):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    code, out, err = run(capsys, "index", str(photo_folder), "--model", TINY_MODEL)
    assert code == 0
    assert "skipped" in err and "broken.jpg" in err
    code, out, err = run(capsys, "problems")
    assert "broken.jpg" in out
    code, out, err = run(capsys, "status")
    assert "Skipped:   1 files" in out


def test_clear_errors_without_tracebacks(cli_library, tmp_path, capsys):
    code, out, err = run(capsys, "index", str(tmp_path / "nope"))
    assert code == 1 and "not a folder" in err and "Traceback" not in err
    code, out, err = run(capsys, "similar", str(tmp_path / "nothing.jpg"))
    assert code == 1 and err.startswith("simdesk:")


def test_folders_add_list_remove(cli_library, photo_folder, capsys):
    assert run(capsys, "folders", "add", str(photo_folder))[0] == 0
    assert str(photo_folder) in run(capsys, "folders")[1]
    assert run(capsys, "folders", "remove", str(photo_folder))[0] == 0
    assert run(capsys, "folders")[1].strip() == ""


def test_models_import_onnx_and_list(models_dir, library_dir, tmp_path, capsys, photo_folder):
    onnx_file = tmp_path / "my model.onnx"
    build_tiny_onnx(onnx_file, seed=3)
    code, out, err = run(capsys, "models", "import", str(onnx_file), "--name", "mine")
    assert code == 0, err
    assert "mine" in run(capsys, "models", "list")[1]
    code, out, err = run(capsys, "index", str(photo_folder), "--model", "mine")
    assert code == 0 and "7 indexed" in err


def test_models_import_rejects_a_non_model(models_dir, tmp_path, capsys):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not protobuf")
    code, out, err = run(capsys, "models", "import", str(junk))
    assert code == 1 and "not a valid ONNX model" in err


def test_version_and_help_are_instant():
    # --help must not import the heavy stack: numpy / onnxruntime load only for real work.
    code = (
        "import sys; from simdesk.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'onnxruntime', 'onnx', 'PIL') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")


def test_interrupt_stops_cleanly_and_rerun_resumes(cli_library, library_dir, models_dir, tmp_path):
    """A real SIGINT to a real `simdesk index`: exit 130, a sound database, a resumable run."""
    import signal
    import time

    from conftest import draw_photo

    folder = tmp_path / "many"
    for i in range(400):
        draw_photo(folder / f"p{i:03d}.png", seed=i, size=(400, 300))
    env = {**os.environ, "SIMDESK_LIBRARY": str(library_dir), "SIMDESK_MODELS_DIR": str(models_dir)}
    cmd = [sys.executable, "-m", "simdesk", "index", str(folder), "--model", TINY_MODEL, "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    db = library_dir / "library.db"
    # Wait until indexing has written something, then press Ctrl-C.
    import sqlite3

    while time.monotonic() < deadline:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("SELECT count(*) FROM photos").fetchone()[0] > 0:
                        break
            except sqlite3.Error:
                pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("indexing finished before the interrupt arrived (machine too fast)")
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM photos").fetchone()[0] == 400


def test_foreign_database_is_refused_with_a_clear_message(tmp_path, capsys):
    import sqlite3

    lib = tmp_path / "not-ours"
    lib.mkdir()
    db = sqlite3.connect(lib / "library.db")
    db.execute("CREATE TABLE invoices (n INTEGER)")
    db.commit()
    db.close()
    code, out, err = run(capsys, "--library", str(lib), "status")
    assert code == 1 and "another program" in err and "Traceback" not in err


def test_new_library_uses_the_installed_offline_model(library_dir, models_dir, photo_folder,
                                                      capsys, monkeypatch):
    from simdesk.core.models import catalog as models

    models.install_efficientnet_lite0()
    code, out, err = run(capsys, "index", str(photo_folder))
    assert code == 0, err
    assert "Using the installed offline model" in err and "7 indexed" in err
    # The choice is kept: installing ResNet-50 later does not switch the library silently.
    from simdesk.core.library import Library

    assert Library(library_dir).model_name == "efficientnet-lite0"


def test_global_options_before_or_after_the_command(cli_library, photo_folder, tmp_path, capsys):
    other = tmp_path / "other-library"
    code, out, err = run(capsys, "index", str(photo_folder), "--library", str(other), "--model", TINY_MODEL)
    assert code == 0 and "7 indexed" in err, err
    for argv in (("--library", str(other), "status", "--json"), ("status", "--json", "--library", str(other))):
        code, out, err = run(capsys, *argv)
        assert code == 0 and json.loads(out)["directory"] == str(other) and json.loads(out)["embedded"] == 7
    code, out, err = run(capsys, "similar", str(photo_folder / "photo_0.jpg"), "-k", "2", "--json",
                         "--library", str(other))
    assert code == 0 and len(json.loads(out)["results"]) == 2
    assert not cli_library.exists()  # $SIMDESK_LIBRARY was never touched
    code, out, err = run(capsys, "models", "list", "--library", str(other))  # a nested command too
    assert code == 0


def test_every_command_help_shows_the_global_options(capsys):
    for argv in (["index"], ["similar"], ["models", "install"], ["eval", "duplicates"], ["map"]):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        assert "--library DIR" in capsys.readouterr().out, argv


def test_a_library_error_is_one_clean_line(cli_library, tmp_path, capsys):
    code, out, err = run(capsys, "folders", "add", str(tmp_path / "nope"))
    assert code == 1 and out == ""
    assert err.splitlines() == [f"simdesk: {tmp_path / 'nope'} is not a folder"]


def test_progress_renderer_on_a_non_terminal_writes_plain_lines(monkeypatch):
    import io

    from simdesk.cli.render import ProgressRenderer
    from simdesk.core.progress import Progress

    stream = io.StringIO()
    with ProgressRenderer(stream) as progress:
        progress(Progress("scanning", 3, None, label="/photos/2023"))
        for done in range(0, 101):
            progress(Progress("indexing", done, 100, 12.5, 4.0, label=f"/photos/p{done}.jpg"))
        progress(Progress("downloading", 5_000_000, 10_000_000, label="weights.pth", unit="bytes"))
        progress(Progress("tsne", 10, 750, fraction=0.3, unit="steps"))
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # One line as each phase starts, and one as it ends: not a line per update.
    assert len(lines) == 5, lines
    assert lines[0].startswith("scanning… 3 photos") and lines[0].endswith("2023")
    assert "[############################] 100/100 photos" in lines[2] and "p100.jpg" in lines[2]
    assert "5.0 MB/10.0 MB" in lines[3]
    assert lines[4].startswith("tsne [########---")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    with ProgressRenderer(terminal) as progress:  # a terminal: one line, redrawn in place
        for done in range(1, 4):
            progress(Progress("indexing", done, 3))
    assert terminal.getvalue().count("\r") == 3 and terminal.getvalue().count("\n") == 1
