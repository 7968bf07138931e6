"""Put a generated report into README.md between ``<!-- benchmark:NAME -->`` and ``<!-- /benchmark:NAME -->``.

Only the text between the two markers is replaced, so the README's prose around them stays hand-written and
the numbers inside them always come from the results files.
"""

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


def update_readme(readme_path, name, content):
    """Rewrite ``readme_path`` with ``content`` between the markers of ``name``; True if the file changed."""
    with open(readme_path, encoding="utf-8") as file:
        text = file.read()
    updated = replace_between_markers(text, name, content)
    if updated != text:
        with open(readme_path, "w", encoding="utf-8") as file:
            file.write(updated)
    return updated != text
