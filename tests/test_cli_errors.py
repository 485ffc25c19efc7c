"""Every `modelroute` command refuses bad input the same way: exactly one line on stderr,
`modelroute <command>: error: <what, naming the file or option>`, and exit code 2
(argument errors add `(see modelroute <command> --help)`); `--help` is unchanged."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_helpers import modelroute, one_line_error
from modelroute.cli import main
from modelroute.provider_server.__main__ import main as server_main


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _refused_at_parsing(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return _one_line(captured.err)


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return _one_line(captured.err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["calibrate", "--target-quality", "95"], "argument --target-quality: 95 is above 1.5"),
        (["train", "--data", "d.csv", "--out", "r.bin", "--folds", "1"], "must be at least 2"),
        (["replay", "--data", "d.csv"], "the following arguments are required: --router"),
        (["demo", "--limit", "x"], "argument --limit: invalid int value: 'x'"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "--port", "70000"], "argument --port: must be in [0, 65535], got 70000"),
        (["serve", "--port", "x"], "argument --port: not a port number: 'x'"),
        (["serve", "extra"], "unrecognized arguments: extra"),
        (["report"], "the following arguments are required: log"),
        (["eval", "--concurrency", "x"], "argument --concurrency: not a whole number: 'x'"),
        (["eval", "--concurrency", "0"], "argument --concurrency: must be at least 1, got 0"),
        (["eval", "--target", "95"], "argument --target: 95 is above 1: give a fraction"),
        (["eval", "--target", "nan"], "argument --target: must be in (0, 1], got nan"),
    ],
)
def test_argument_errors_are_one_line_naming_the_command(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused_at_parsing(argv, capsys)
    command = argv[0]
    assert line.startswith(f"modelroute {command}: error: ")
    assert message in line
    assert line.endswith(f" (see modelroute {command} --help)")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: command"),
        (["bogus"], "argument command: invalid choice: 'bogus'"),
    ],
)
def test_a_missing_or_unknown_command_is_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused_at_parsing(argv, capsys)
    assert line.startswith("modelroute: error: ")
    assert message in line
    assert line.endswith(" (see modelroute --help)")


def test_help_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: modelroute serve [-h]")
    for option in ("--script FILE", "--host", "--port", "--quiet", "docs/provider_server.md"):
        assert option in out


# bad files: each command names the file (and the option, where the command has several)


def test_serve_names_a_missing_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "nope.yaml"
    line = _refused(["serve", "--script", str(script)], capsys)
    assert line == f"modelroute serve: error: --script {script}: no such file or directory"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"models:\n  m-a: {faults: [bogus]}\n", "models.m-a.faults[0]: unknown fault 'bogus'"),
        (b"models:\n  m-a: {answr: hi}\n", "models.m-a: unknown keys ['answr']"),
        (b"models: [unclosed\n", "not valid .yaml"),
        (b"models:\n  m-a: {answer: \xff}\n", "not UTF-8 text"),
    ],
)
def test_serve_names_a_bad_script_and_the_problem(
    tmp_path: Path, content: bytes, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "bad.yaml"
    script.write_bytes(content)
    line = _refused(["serve", "--script", str(script)], capsys)
    assert line.startswith(f"modelroute serve: error: --script {script}: ")
    assert expected in line


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A 127.0.0.1 port that another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_serve_on_a_port_in_use_says_so(busy_port: int) -> None:
    # the real entry point in a fresh interpreter; it fails at bind, before serving
    line = one_line_error(modelroute("serve", "--port", str(busy_port)), "serve")
    assert line == (
        f"modelroute serve: error: --port {busy_port}: port {busy_port} on 127.0.0.1 is "
        "already in use (pick another, or --port 0 for a free one)"
    )


def test_the_server_module_reads_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "nope.yaml"
    assert server_main(["--script", str(script)]) == 2
    prog = "python -m modelroute.provider_server"
    assert _one_line(capsys.readouterr().err) == (
        f"{prog}: error: --script {script}: no such file or directory"
    )
    with pytest.raises(SystemExit) as exit_:
        server_main(["--port", "-1"])
    assert exit_.value.code == 2
    assert _one_line(capsys.readouterr().err) == (
        f"{prog}: error: argument --port: must be in [0, 65535], got -1 (see {prog} --help)"
    )


def test_report_names_a_missing_log_or_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "nope.jsonl"
    line = _refused(["report", str(log)], capsys)
    assert line == f"modelroute report: error: {log}: no such file or directory"
    line = _refused(["report", str(tmp_path)], capsys)
    assert line == f"modelroute report: error: {tmp_path}: is a directory, not a decision log"


def test_eval_names_a_missing_prompt_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "nope.jsonl"
    line = _refused(["eval", "--prompts", str(prompts), "--out", str(tmp_path / "e")], capsys)
    assert line.startswith(f"modelroute eval: error: {prompts}: no such file")


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("--workload", "{path}: cannot read the workload: No such file or directory"),
        ("--data", "{path}: no such file or directory"),
    ],
)
def test_demo_names_a_missing_file(
    option: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nope.yaml"
    line = _refused(["demo", option, str(path), "--out", str(tmp_path / "demo")], capsys)
    assert line == "modelroute demo: error: " + expected.format(path=path)
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "{missing}", "--out", "{tmp}/r.bin"],
        ["replay", "--data", "{missing}", "--router", "{missing}"],
        ["calibrate", "--router", "{missing}", "--out", "{tmp}/c.bin", "--strong-share", "0.2"],
    ],
)
def test_offline_commands_name_a_missing_file(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "gone.csv"
    args = [a.format(missing=missing, tmp=tmp_path) for a in argv]
    line = _refused(args, capsys)
    assert line == f"modelroute {argv[0]}: error: {missing}: no such file or directory"
