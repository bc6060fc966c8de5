"""Text that comes from data, shown inside markdown metadata: always literal, never markup."""

from __future__ import annotations

import html
import re

# Characters that would start emphasis, links, images, code or strikethrough, end a table cell,
# or escape the next character; backslash-escaping shows them as they are.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]!|~])")


def literal(text: object) -> str:
    """`text` on one line, showing as itself: no HTML runs, no image loads, no column breaks."""
    one_line = " ".join(str(text).split())
    return html.escape(_MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line), quote=False)
