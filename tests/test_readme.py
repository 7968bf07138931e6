"""The README's two set-up commands exist, and CI runs the test one."""

import os
import re

from tests.conftest import REPO_ROOT


def _block(name):
    text = open(os.path.join(REPO_ROOT, "README.md")).read()
    match = re.search(rf"<!-- {name} -->\s*```bash\n(.+?)\n```\s*<!-- /{name} -->", text, re.S)
    assert match, f"README.md lacks the {name} block"
    return match.group(1).strip()


def test_readme_commands_install_torch_cpu_then_the_package():
    for name in ("main-command", "test-command"):
        command = _block(name)
        assert command.startswith("pip install torch==2.13.0 && pip install ")
    assert "run_recbole_meta.py --model=" in _block("main-command")
    assert "pytest" in _block("test-command")


def test_ci_runs_the_readme_test_command():
    ci = open(os.path.join(REPO_ROOT, ".ci", "run")).read()
    assert "<!-- test-command -->" in ci
