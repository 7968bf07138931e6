"""Generated blocks of README.md, between ``<!-- benchmark:NAME -->`` and ``<!-- /benchmark:NAME -->``.

Only the text between the two markers is replaced, so the README's prose around them stays hand-written and
the numbers inside them always come from the results files: a short headline per suite and the models table
(:mod:`recbole_meta.benchmark.headline`); the full reports stay in ``benchmark_results/<suite>.md``.
"""

import os
import re


def markers(name):
    return f"<!-- benchmark:{name} -->", f"<!-- /benchmark:{name} -->"


def replace_between_markers(text, name, content):
    """``text`` with the block between the markers of ``name`` replaced by ``content``.

    Raises ``ValueError`` naming the markers to add when they are missing or appear more than once.
    """
    start, end = markers(name)
    # markers count only on lines of their own (prose may quote them)
    pattern = re.compile(r"^" + re.escape(start) + r"[ \t]*\n.*?^" + re.escape(end) + r"[ \t]*$", re.S | re.M)
    found = pattern.findall(text)
    if len(found) != 1:
        problem = "are missing" if not found else f"appear {len(found)} times"
        raise ValueError(
            f"README markers for suite {name!r} {problem}: add one pair of lines\n{start}\n{end}\n"
            "where the generated results should go"
        )
    block = f"{start}\n{content.rstrip()}\n{end}"
    return pattern.sub(lambda _: block, text, count=1)


def _default_summary(name, out_dir):
    from recbole_meta.benchmark.records import read_records
    from recbole_meta.benchmark.report import summarize
    from recbole_meta.benchmark.runner import results_path
    from recbole_meta.benchmark.suite import SuiteOptions, build_suite

    suite = build_suite(name, SuiteOptions(quick=False, out_dir=out_dir))
    summary = summarize(suite, read_records(results_path(out_dir, name)))
    command = suite.regenerate_command or f"python -m recbole_meta.benchmark {name}"
    return summary, command


def regenerate_text(text, readme_dir, out_dir, given=None):
    """``text`` (a README living in ``readme_dir``) with its generated blocks rebuilt from ``out_dir``.

    Each suite whose markers the text has gets its headline (:func:`headline.headline_section`); the ``models``
    block gets the models table. ``given`` maps suite names to ``(summary, command)`` already computed (the
    suite just run, with its seeds): then only those suites' blocks and the models table are rebuilt; without
    it, every registered suite's. Returns ``(text, notes)``.
    """
    from recbole_meta.benchmark.headline import MODELS, headline_section, models_table
    from recbole_meta.benchmark.suite import suite_names

    given = dict(given or {})
    registered = suite_names()
    names = list(given) if given else list(registered)
    names += [row.suite for row in MODELS if row.suite not in names and row.suite in registered]
    summaries, links, notes = {}, {}, []
    for name in names:
        summary, command = given.get(name) or _default_summary(name, out_dir)
        summaries[name] = summary
        links[name] = os.path.relpath(os.path.join(out_dir, f"{name}.md"), readme_dir).replace(os.sep, "/")
        if given and name not in given:
            continue
        if not given and markers(name)[0] not in text:
            notes.append(f"no markers for suite {name!r}: its headline is not in the README")
            continue
        text = replace_between_markers(text, name, headline_section(summary, command, links[name]))
    if markers("models")[0] in text:
        text = replace_between_markers(text, "models", models_table(summaries, links))
    return text, notes


def update_readme_headlines(readme_path, out_dir, given=None):
    """Rewrite ``readme_path`` with :func:`regenerate_text`; returns lines to print."""
    with open(readme_path, encoding="utf-8") as file:
        text = file.read()
    readme_dir = os.path.dirname(os.path.abspath(readme_path))
    updated, notes = regenerate_text(text, readme_dir, out_dir, given)
    if updated != text:
        with open(readme_path, "w", encoding="utf-8") as file:
            file.write(updated)
    return [f"{readme_path}: {note}" for note in notes] + [
        f"{readme_path}: {'updated' if updated != text else 'already up to date'}"
    ]
