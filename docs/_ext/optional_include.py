"""``.. optional-include:: file.md``: include a Markdown file if it exists, else a placeholder.

Pages that show content another part of the project writes (the RectiPy compatibility table,
``docs/migration_table.md``) use it so that the build passes before that file exists and picks it
up, with no edit, once it does.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.parsers.rst.directives.misc import Include
from sphinx.application import Sphinx


class OptionalInclude(Include):
    """Include a MyST Markdown file relative to the current page, or show ``:placeholder:``."""

    option_spec = {**Include.option_spec, "placeholder": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        """Parse the file into the page, or return a note saying what is missing.

        Returns
        -------
        list of docutils.nodes.Node
            The included content, or one admonition.
        """
        source = Path(self.state.document.current_source).parent
        path = source / self.arguments[0]
        env = self.state.document.settings.env
        env.note_dependency(str(path))
        if not path.is_file():
            note = nodes.admonition()
            note += nodes.title(text="Not available yet")
            note += nodes.paragraph(text=self.options.get("placeholder", f"{path.name} is missing."))
            return [note]
        self.options["parser"] = directives.parser_name("myst_parser.sphinx_")
        self.options.pop("placeholder", None)
        return super().run()


def setup(app: Sphinx) -> dict:
    """Register the directive.

    Parameters
    ----------
    app : sphinx.application.Sphinx
        The Sphinx application.

    Returns
    -------
    dict
        Extension metadata.
    """
    app.add_directive("optional-include", OptionalInclude)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
