import os

import pytest

from recbole_meta.cli import main
from tests.helpers import REPO_ROOT, TEST_DATA, run_python

SCRIPT = os.path.join(REPO_ROOT, "run_recbole_meta.py")


def test_cli_runs_a_builtin_model(capsys):
    code = main(
        ["--model=BPR", "--dataset=tiny", f"--data_path={TEST_DATA}", "--epochs=1", "--show_progress=False"]
    )
    assert code == 0
    assert "test result: recall@10=" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model=BRP"], "unknown model 'BRP'; did you mean BPR?"),
        (["--model=BPR", "--dataset=nope"], "unknown dataset 'nope'"),
        (["--model=BPR", "--config_files=missing.yaml"], "config file not found: missing.yaml"),
    ],
)
def test_cli_errors_are_one_clear_line(args, message):
    out = run_python(SCRIPT, *args)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], out.stderr


def test_help_lists_models():
    out = run_python(SCRIPT, "--help")
    assert out.returncode == 0
    assert "plugin models:" in out.stdout and "LightGCN" in out.stdout
