"""Checks the README and docs/ against what CI runs and what a newcomer will type.

- Each code block marked `<!-- snippet: PATH -->` in README.md or docs/*.md is exactly the
  file at PATH, so the snippets CI runs are the ones the documents show.
- The README stays a short entry point: at most MAX_README_LINES lines, a quick start
  whose one block is `cargo run -- serve` and `cargo test`, and a link to every file of
  docs/ (every relative link in the documents names a file that exists).
- Commands work in the order written: the README runs devreg only through `cargo run --`
  (nothing is installed yet); a document that runs `devreg` bare says how to install it;
  no two servers of the documents listen on one port, and every curl goes to a port a
  server of its own document (or the README's quick start) listens on.
- docs/testing.md's `TestServer` example comes with the `[dev-dependencies]` it needs:
  devreg itself (by `path` or `git`: it is not on crates.io), and each crate the example
  calls (`tokio::test`, `reqwest::`, `serde_json::`).
- Nothing in the repository (documents, code, tests, examples, CI) cites a file it does not
  have: an upper-case `NAME.md` (CONTRACT.md, STYLE.md, SDK-PROTOCOL.md are the project's
  notes, not in the repository: say in words what they say), a `spec/` directory, or a
  path under /work/notes.
"""

import os
import pathlib
import re
import sys

MAX_README_LINES = 225
QUICK_START = ["cargo run -- serve", "cargo test"]
DEFAULT_PORT = "8080"

root = pathlib.Path(__file__).resolve().parent.parent
documents = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
texts = {path: path.read_text() for path in documents}
problems = []


def name(path):
    return str(path.relative_to(root))


def shell_blocks(text):
    """The code blocks of shell commands: ```sh, ```bash and ```console."""
    return re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S)


def commands(block):
    """The commands of a block, continuation lines joined, prompts and comments dropped.
    In a console block only `$ ` lines are commands; the rest is output."""
    console = any(line.startswith("$ ") for line in block.splitlines())
    joined, pending = [], ""
    for line in block.splitlines():
        if console and not pending:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        line = pending + line
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            joined.append(line)
    return joined


# Snippets are their files.
snippets = 0
for path, text in texts.items():
    for snippet, block in re.findall(
        r"<!-- snippet: (\S+) -->\n```\w*\n(.*?)```", text, re.S
    ):
        snippets += 1
        if not (root / snippet).is_file():
            problems.append(f"{name(path)}: snippet {snippet} names no file")
        elif (root / snippet).read_text() != block:
            problems.append(f"{name(path)}: snippet differs from its file {snippet}")
if not snippets:
    problems.append("no <!-- snippet: PATH --> blocks in README.md or docs/")

# The README is short, starts with the quick start, and links every document.
readme = texts[root / "README.md"]
if len(readme.splitlines()) > MAX_README_LINES:
    problems.append(
        f"README.md has {len(readme.splitlines())} lines, more than {MAX_README_LINES}: "
        "move reference material into docs/"
    )
quick = re.search(r"## Quick start\n(.*?)\n## ", readme, re.S)
quick_blocks = shell_blocks(quick.group(1)) if quick else []
if [commands(b) for b in quick_blocks] != [QUICK_START]:
    problems.append(f"README.md: the quick start's one block must be {QUICK_START}")
for doc in documents[1:]:
    if f"](docs/{doc.name})" not in readme:
        problems.append(f"README.md does not link docs/{doc.name}")
for path, text in texts.items():
    for target in re.findall(r"\]\(([^)#:\s]+\.md)(?:#[^)]*)?\)", text):
        if not (path.parent / target).is_file():
            problems.append(f"{name(path)}: link to {target}, which does not exist")

# Commands work in the order written.
INSTALL = "cargo install --path ."
serve_ports = {}  # port -> the document whose server listens on it
for path, text in texts.items():
    ports = []
    for block in shell_blocks(text):
        for command in commands(block):
            bare = re.match(r"(\S+=\S+ )*devreg\b", command)
            if bare and path.name == "README.md":
                problems.append(
                    f"README.md runs `{command}`: nothing is installed at that point; "
                    "write `cargo run --` for `devreg`"
                )
            elif bare and INSTALL not in text:
                problems.append(
                    f"{name(path)} runs `{command}` without saying how to install devreg "
                    f"({INSTALL}) or to write `cargo run --` instead"
                )
            if re.search(r"(devreg|cargo run --) serve\b", command) and (
                "--ephemeral" not in command
            ):
                bind = re.search(r"--bind\s+\S*:(\d+)", command)
                ports.append(bind.group(1) if bind else DEFAULT_PORT)
    for port in ports:
        if port in serve_ports:
            problems.append(
                f"{name(path)} starts a server on port {port}, as "
                f"{name(serve_ports[port])} does already: the second would not start "
                "while the first runs; give it another --bind"
            )
        serve_ports.setdefault(port, path)
    reachable = set(ports) | {DEFAULT_PORT}
    for block in shell_blocks(text):
        for command in commands(block):
            if not command.startswith("curl"):
                continue
            for port in re.findall(r"(?:localhost|127\.0\.0\.1):(\d+)", command):
                if port not in reachable:
                    problems.append(
                        f"{name(path)}: `{command[:60]}…` goes to port {port}, where no "
                        "server of this document or the quick start listens"
                    )

# docs/testing.md says how to depend on devreg, and on what its example uses.
testing = texts[root / "docs" / "testing.md"]
example = re.search(r"```rust\n(.*?)```", testing, re.S)
deps = re.search(r"```toml\n\[dev-dependencies\]\n(.*?)```", testing, re.S)
if not deps or not re.search(r"^devreg = \{ *(path|git) = ", deps.group(1), re.M):
    problems.append(
        "docs/testing.md: no ```toml [dev-dependencies] block with `devreg = { path = ... }` "
        "or `{ git = ... }` (devreg is not on crates.io)"
    )
elif example:
    for crate in sorted(set(re.findall(r"\b(tokio|reqwest|serde_json)::", example.group(1)))):
        if not re.search(rf"^{crate} = ", deps.group(1), re.M):
            problems.append(
                f"docs/testing.md: its example uses {crate}, which its [dev-dependencies] "
                "block does not list"
            )
    if "tokio::test" in example.group(1) and not re.search(
        r'^tokio = .*"macros".*"rt', deps.group(1), re.M
    ):
        problems.append('docs/testing.md: #[tokio::test] needs tokio\'s "macros" and "rt" features')

# Every file cited is in the repository.
SKIP = {".git", "target", "node_modules", ".venv", "__pycache__"}
files = []
for folder, subfolders, filenames in os.walk(root):
    subfolders[:] = [d for d in subfolders if d not in SKIP]  # target/ is large: not walked
    files += [pathlib.Path(folder) / f for f in filenames]
names = {p.name for p in files}
has_spec = any("spec" in p.relative_to(root).parts[:-1] for p in files)
for path in files:
    if path == pathlib.Path(__file__).resolve():
        continue  # this checker names them to look for them
    if path.suffix not in {".md", ".rs", ".py", ".mjs", ".js", ".toml", ".sh", ".sql", ".yml", ""}:
        continue
    try:
        text = path.read_text()
    except (UnicodeDecodeError, OSError):
        continue
    cited = set(re.findall(r"(?<![\w/.-])([A-Z][A-Z_-]*\.md)\b", text))
    cited |= {"spec/"} if not has_spec and re.search(r"(?<![\w/.-])spec/", text) else set()
    cited |= set(re.findall(r"/work/notes/[\w./-]*\w", text))
    for missing in sorted(c for c in cited if c not in names):
        problems.append(
            f"{name(path)} cites {missing}, which is not in the repository: say what it "
            "says in words, or drop the reference"
        )

if problems:
    sys.exit("\n".join(problems))
print(
    f"{snippets} snippets match their files; README.md ({len(readme.splitlines())} lines) "
    f"and {len(documents) - 1} docs/ files pass; no file cites one the repository lacks"
)
