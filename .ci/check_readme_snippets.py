"""Checks that each README code block marked `<!-- snippet: PATH -->` is exactly the file
at PATH, so the snippets CI runs are the ones the README shows."""

import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
readme = (root / "README.md").read_text()
marked = re.findall(r"<!-- snippet: (\S+) -->\n```\w*\n(.*?)```", readme, re.S)
if not marked:
    sys.exit("README.md has no <!-- snippet: PATH --> blocks")
stale = [path for path, block in marked if (root / path).read_text() != block]
if stale:
    sys.exit(f"README.md snippets differ from their files: {', '.join(stale)}")
print(f"{len(marked)} README snippets match their files")
