"""--quick benchmark runs read only data that ships inside the package, never the source checkout's tests/."""

import os

import recbole_meta
from recbole_meta.benchmark.suite import QUICK_DATA_PATH, SuiteOptions, build_suite, suite_names

PACKAGE = os.path.dirname(os.path.abspath(recbole_meta.__file__))


def _paths(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _paths(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _paths(item)
    elif isinstance(value, str) and os.sep in value:
        yield value


def test_quick_suites_read_data_inside_the_package(tmp_path):
    assert os.path.isfile(os.path.join(QUICK_DATA_PATH, "tiny", "tiny.inter"))
    assert os.path.commonpath([QUICK_DATA_PATH, PACKAGE]) == PACKAGE
    for name in suite_names():
        suite = build_suite(name, SuiteOptions(quick=True, out_dir=str(tmp_path)))
        for run in suite.runs:
            for path in _paths(suite.run_config(run, True)):
                inside = os.path.commonpath([os.path.abspath(path), PACKAGE]) == PACKAGE
                under_out = os.path.abspath(path).startswith(str(tmp_path))
                assert inside or under_out, (name, run.name, path)
                assert f"{os.sep}tests{os.sep}" not in path, (name, run.name, path)
