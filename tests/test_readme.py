"""README.md: its set-up commands are the ones CI runs, and every number in it comes from a results file."""

import os
import re
import subprocess

from recbole_meta.benchmark.readme import regenerate_text

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO_ROOT, "README.md")


def _text():
    with open(README, encoding="utf-8") as file:
        return file.read()


def _block(name):
    match = re.search(rf"<!-- {name} -->\s*```bash\n(.+?)\n```\s*<!-- /{name} -->", _text(), re.S)
    assert match, f"README.md lacks the {name} block"
    return match.group(1).strip()


def test_readme_commands_install_torch_cpu_then_the_package():
    for name in ("main-command", "test-command"):
        assert _block(name).startswith("pip install torch==2.13.0 && pip install ")
    assert "run_recbole_meta.py --model=" in _block("main-command")
    assert "pytest" in _block("test-command")


def test_ci_extracts_exactly_the_readme_test_command():
    # run CI's own extraction (the TEST_COMMAND=$(...) assignment of .ci/run) on the README
    ci = open(os.path.join(REPO_ROOT, ".ci", "run")).read()
    assignment = re.search(r"^TEST_COMMAND=\$\(.*?\)$", ci, re.S | re.M)
    assert assignment, ".ci/run no longer assigns TEST_COMMAND"
    script = assignment.group(0) + '\nprintf %s "$TEST_COMMAND"'
    result = subprocess.run(["bash", "-c", script], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == _block("test-command")


def test_readme_is_a_short_guide():
    assert len(_text().encode("utf-8")) < 30_000


def test_every_generated_block_matches_the_results_files():
    # regenerating from benchmark_results/ must give the committed README: no number in a block is typed
    text = _text()
    regenerated, _ = regenerate_text(text, REPO_ROOT, os.path.join(REPO_ROOT, "benchmark_results"))
    assert regenerated == text, "README.md is stale: run python -m recbole_meta.benchmark --update-readme"


TYPED_RESULT = re.compile(r"\b0\.\d+|\b\d+(?:\.\d+)?\s?(?:x\b|%|ms\b|seconds\b|minutes\b)")


def typed_results(text):
    """Results written into ``text`` outside its generated blocks and code (fenced or inline)."""
    text = re.sub(r"^<!-- benchmark:(\S+) -->\n.*?^<!-- /benchmark:\1 -->$", "", text, flags=re.S | re.M)
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return TYPED_RESULT.findall(text)


def test_prose_types_no_results():
    text = _text()
    assert len(TYPED_RESULT.findall(text)) > 20  # the generated blocks hold the numbers
    assert typed_results(text) == [], "results typed into README prose: generate them instead"
    assert not re.search(r"\bthe issue\b", text, re.I)


def test_a_typed_result_in_prose_is_caught():
    text = _text().replace("## Run\n", "## Run\n\nMeLU reaches MAE 0.808, 3.5x faster than the loop.\n", 1)
    assert typed_results(text) == ["0.808", "3.5x"]
