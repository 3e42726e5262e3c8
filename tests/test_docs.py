"""
The documentation site (docs/, Sphinx) builds with no warning and every cross-reference resolved (``-n -W``), every
internal link and image of the built pages points at a file and anchor that exist, and the code blocks of its pages
run as written, with the budgets and rules of tests/test_readme.py.
"""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from test_readme import NOT_RUN, RUN_ELSEWHERE, SLOW, run_block, workdir

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(path for path in DOCS.rglob("*.rst") if "_build" not in path.parts and path.parts[-2] != "api")
DIRECTIVE = re.compile(r"^(\s*)\.\. code-block:: (python|bash)\s*$")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The ``.. code-block:: python`` and ``bash`` blocks of a reST page, in order, dedented."""
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        match = DIRECTIVE.match(lines[index])
        index += 1
        if not match:
            continue
        indent, body = len(match.group(1)), []
        while index < len(lines) and (not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent):
            body.append(lines[index])
            index += 1
        code = [line for line in body if not re.match(r"^\s+:\w[\w-]*:", line)]  # directive options
        margin = min(len(line) - len(line.lstrip()) for line in code if line.strip())
        blocks.append((match.group(2), "\n".join(line[margin:] for line in code).strip("\n") + "\n"))
    return blocks


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("name"):
            self.ids.add(attributes["name"])
        for name in ("href", "src"):
            if attributes.get(name) and tag in ("a", "img", "link", "script"):
                self.links.append(attributes[name])


def parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-n", "-W", "--keep-going", "-q", str(DOCS), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, f"the documentation has warnings (make docs):\n{result.stderr[-6000:]}"
    return out


def test_docs_build_without_warnings_and_every_internal_link_resolves(built):
    pages = {path: parse(path) for path in built.rglob("*.html")}
    assert len(pages) > 20 and (built / "index.html") in pages
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("mailto:"):
                continue  # an external address: not checked (the build stays offline)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(built)}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if parts.fragment not in ids:
                    broken.append(f"{page.relative_to(built)}: {link} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_every_guide_page_is_in_the_site(built):
    for page in PAGES:
        html = built / page.relative_to(DOCS).with_suffix(".html")
        assert html.exists(), f"{page} was not built: is it in a toctree?"


def test_extractor_finds_every_block():
    for page in PAGES:
        text = page.read_text()
        assert len(code_blocks(text)) == len(re.findall(DIRECTIVE.pattern, text, re.MULTILINE)), page
    assert code_blocks(".. code-block:: python\n   :caption: x\n\n   a = 1\n     b\n\nafter\n") == [("python", "a = 1\n  b\n")]
    assert sum(len(code_blocks(page.read_text())) for page in PAGES) > 20
    assert any(line in page.read_text() for page in PAGES for line in [*NOT_RUN, *RUN_ELSEWHERE])


CASES = [
    pytest.param(
        page,
        blocks,
        id=str(page.relative_to(DOCS)),
        marks=[pytest.mark.slow] if any(SLOW.search(code) for _, code in blocks) else [],
    )
    for page in PAGES
    if (blocks := code_blocks(page.read_text()))
]


@pytest.mark.parametrize("page, blocks", CASES)
def test_page_blocks_run(tmp_path, page, blocks):
    cwd = workdir(tmp_path)
    for index, (language, code) in enumerate(blocks):
        run_block(language, code, cwd, index)
