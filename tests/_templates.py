"""Tiny report templates written into a test's tmp_path (shared by the report/CLI tests)."""

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
