"""Tiny report templates written into a test's tmp_path (shared by the report/CLI tests), and
readers of the section headings and their explanations in templates and their HTML."""

import html as html_module
import re

import nbformat


def write_template(path, parameters, *cells):
    """A notebook with a ``parameters``-tagged cell followed by ``cells`` (code sources)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Tiny report"), params]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, str(path))
    return path


def _words(html_fragment: str) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", html_fragment)
    return [w for w in html_module.unescape(text).replace("¶", " ").split() if any(c.isalpha() for c in w)]


def section_texts(page: str) -> dict:
    """Each ``<h2>`` section heading of an nbconvert HTML page -> the words of the prose right
    under it: its own markdown cell's text up to the next heading (nothing when the
    heading is directly followed by an output)."""
    sections = {}
    for cell in re.split(r'<div[^>]*class="jp-Cell ', page)[1:]:
        if "jp-MarkdownCell" not in cell[:200]:
            continue
        for match in re.finditer(r"<h2[^>]*>(.*?)</h2>(.*?)(?=<h[1-3][\s>]|$)", cell, flags=re.S):
            sections[" ".join(_words(match.group(1)))] = _words(match.group(2))
    return sections


def markdown_sections(nb) -> dict:
    """Each ``## `` heading of notebook ``nb``'s markdown cells -> the words under it in the
    same cell, up to the next heading."""
    sections = {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for match in re.finditer(r"^## ([^\n]+)\n?(.*?)(?=^#{1,3} |\Z)", cell.source, flags=re.S | re.M):
            sections[match.group(1).strip()] = [w for w in match.group(2).split() if any(c.isalpha() for c in w)]
    return sections
