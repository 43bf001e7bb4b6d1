"""report.html: the MLflow copy of report.md as one self-contained page, figures embedded.

MLflow's artifact view shows Markdown as text (an image is the literal `![forest](figures/...)`)
and resolves a relative link against the server root, so neither a figure nor a link of
report.md works there. It does render an HTML artifact: this page carries each figure inline
(base64 PNG) and names the other artifacts (tables, JSON) instead of linking them.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from pathlib import Path

from markdown_it import MarkdownIt

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
img { max-width: 100%; border: 1px solid #eee; }
code { background: #f4f4f4; padding: 0 0.2rem; }
.artifact { font-family: monospace; }
"""
IMAGE = re.compile(r'<img src="([^"]+)" alt="([^"]*)"\s*/?>')
LINK = re.compile(r'<a href="([^"]+)">(.*?)</a>', re.S)


def data_uri(path: Path) -> str:
    return f"data:image/png;base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def self_contained_html(markdown: str, artifacts: Mapping[str, Path], title: str) -> str:
    """`markdown` (whose links are artifact names) as a page: PNG artifacts inline, other artifacts named.

    An image or link to a name that is not an artifact is left as it is (e.g. an absolute URL).
    """
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)

    def image(match: re.Match[str]) -> str:
        name, alt = html.unescape(match.group(1)), match.group(2)
        path = artifacts.get(name)
        if path is None or path.suffix.lower() != ".png":
            return match.group(0)
        return f'<img src="{data_uri(path)}" alt="{alt}" id="{html.escape(name)}">'

    def link(match: re.Match[str]) -> str:
        name, text = html.unescape(match.group(1)), match.group(2)
        if name not in artifacts:
            return match.group(0)
        if Path(name).suffix.lower() == ".png":  # the figure itself is on this page
            return f'<a href="#{html.escape(name)}">{text}</a>'
        return f'<span class="artifact" title="artifact {html.escape(name)} of this run">{text}</span>'

    body = LINK.sub(link, IMAGE.sub(image, body))
    return (f"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}</title>\n"
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")
