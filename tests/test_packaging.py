"""The package installs as a wheel (non-editable) and still finds its properties/ yaml files and quick dataset."""

import configparser
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, TEST_DATA


def test_every_package_folder_is_listed_in_setup_cfg():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO_ROOT, "setup.cfg"))
    listed = set(parser["options"]["packages"].split())
    on_disk = {
        os.path.relpath(root, REPO_ROOT).replace(os.sep, ".")
        for root, _, files in os.walk(os.path.join(REPO_ROOT, "recbole_meta"))
        if "__init__.py" in files
    }
    assert on_disk <= listed, f"add to setup.cfg [options] packages: {sorted(on_disk - listed)}"


@pytest.mark.slow
def test_installed_wheel_finds_properties(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            REPO_ROOT,
            "-w",
            str(wheel_dir),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheel_dir.glob("recbole_meta-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    code = (
        "import os, recbole_meta, recbole_meta.config as c;"
        f"assert recbole_meta.__file__.startswith({str(target)!r}), recbole_meta.__file__;"
        "p = c.properties_dir(); print(p);"
        f"assert p.startswith({str(target)!r});"
        f"cfg = c.Config('BPR', 'tiny', config_dict={{'data_path': {TEST_DATA!r}}}, argv=[]);"
        "assert cfg['benchmark_dir'] == 'benchmark_results';"
        # the --quick benchmarks' dataset ships inside the package
        "from recbole_meta.benchmark.suite import QUICK_DATA_PATH as q;"
        f"assert q.startswith({str(target)!r}), q;"
        "assert sorted(os.listdir(os.path.join(q, 'tiny'))) == ['tiny.inter', 'tiny.item', 'tiny.user']"
    )
    # The target folder comes first and the checkout is not on the path: the installed copy is used.
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert os.path.join("recbole_meta", "properties") in run.stdout
