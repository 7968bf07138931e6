"""Only recbole_meta/compat/ changes RecBole's behaviour: no other module assigns into RecBole's modules or
classes, mutates their tables, rewrites ``sys.argv`` or installs a process-wide warnings filter."""

import ast
import os

import recbole_meta

PACKAGE = os.path.dirname(os.path.abspath(recbole_meta.__file__))
COMPAT = os.path.join(PACKAGE, "compat")
MUTATORS = {"append", "extend", "insert", "update", "setdefault", "pop", "remove", "clear"}
WARNING_FILTERS = {"warnings.filterwarnings", "warnings.simplefilter"}


def _root(node):
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _changes_to_recbole(source, filename="<source>"):
    """``(line, what)`` of every statement of ``source`` that changes RecBole's modules, classes or ``sys.argv``,
    or filters warnings outside a ``with warnings.catch_warnings()`` block."""
    tree = ast.parse(source, filename)
    scoped = set()  # lines inside `with warnings.catch_warnings():`, whose filters end with the block
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            ast.unparse(item.context_expr).startswith("warnings.catch_warnings") for item in node.items
        ):
            scoped |= set(range(node.lineno, node.end_lineno + 1))
    recbole_names = {"sys.argv"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            recbole_names |= {
                (a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("recbole.")
            }
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "recbole":
            recbole_names |= {a.asname or a.name for a in node.names}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if isinstance(target, ast.Attribute | ast.Subscript):
                root = _root(target)
                text = ast.unparse(target)
                if root in recbole_names or text.startswith("sys.argv"):
                    found.append((node.lineno, text))
        if isinstance(node, ast.Call):
            func = node.func
            if ast.unparse(func) in WARNING_FILTERS and node.lineno not in scoped:
                found.append((node.lineno, ast.unparse(node)))
            if isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
                if _root(node.args[0]) in recbole_names:
                    found.append((node.lineno, ast.unparse(node)))
            if (
                isinstance(func, ast.Attribute)
                and func.attr in MUTATORS
                and isinstance(func.value, ast.Attribute)
            ):
                if _root(func.value) in recbole_names:
                    found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_no_module_outside_compat_changes_recbole():
    offenders = []
    for folder, _, files in os.walk(PACKAGE):
        if folder == COMPAT or folder.startswith(COMPAT + os.sep):
            continue
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as file:
                    offenders += [
                        (os.path.relpath(path, PACKAGE), *hit) for hit in _changes_to_recbole(file.read())
                    ]
    assert offenders == [], f"changes to RecBole outside recbole_meta/compat/: {offenders}"


def test_the_check_finds_each_kind_of_change():
    source = (
        "import sys\n"
        "from recbole.evaluator.collector import Collector\n"
        "from recbole.evaluator import register\n"
        "import recbole.utils as ru\n"
        "Collector.get_data_struct = None\n"
        "register.metrics_dict['x'] = 1\n"
        "register.smaller_metrics.append('x')\n"
        "setattr(ru, 'get_model', None)\n"
        "sys.argv = ['x']\n"
        "mine = {}\n"
        "mine['x'] = Collector\n"
        "import warnings\n"
        "warnings.filterwarnings('ignore', category=FutureWarning)\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore', RuntimeWarning)\n"
    )
    assert [line for line, _ in _changes_to_recbole(source)] == [5, 6, 7, 8, 9, 13]


def test_compat_itself_is_where_the_changes_are():
    with open(os.path.join(COMPAT, "evaluator.py"), encoding="utf-8") as file:
        assert _changes_to_recbole(file.read())
