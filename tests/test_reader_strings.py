"""Every string a reader sees is marked for translation (#9).

Walks every template outside the staff pages and the reader-facing Python, and fails on words
that would reach a reader in English whatever their language. It reads templates with Django's
own lexer and Python with `ast`, so it checks what the code says, not what a page happened to
render.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

from devtools import messages

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
# Staff-only templates: marked where the product's admin adds strings, but not required here.
STAFF_TEMPLATES = ("admin", "outbox")
# What a reader can see or hear besides text: these attributes carry words.
WORDY_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder", "label"}
# Text with a letter in it; addresses and URLs (you@example.com) are not words to translate.
LETTER = re.compile(r"[^\W\d_]")
NOT_WORDS = re.compile(r"\S+@\S+|https?://\S+|&[a-zA-Z]+;|&#\d+;")


class _Visible(HTMLParser):
    """Text nodes and wordy attributes of an HTML fragment, outside <style> and <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"style", "script"}:
            self._hidden += 1
        for name, value in attrs:
            if name in WORDY_ATTRIBUTES and value and _words(value):
                self.found.append(f'{name}="{value}"')

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "script"} and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and _words(data):
            self.found.append(" ".join(data.split()))


def _words(text: str) -> bool:
    return bool(LETTER.search(NOT_WORDS.sub(" ", text)))


def untranslated_in_template(source: str) -> list[str]:
    """Words in a template that no {% translate %} or {% blocktranslate %} covers."""
    # Every tag and variable becomes a neutral character, so the HTML around them still parses
    # (an attribute whose value is a variable, say) and nothing they print counts as text.
    kept: list[str] = []
    in_block_translate = in_comment = False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split(" ", 1)[0]
            if name in {"blocktranslate", "blocktrans"}:
                in_block_translate = True
            elif name in {"endblocktranslate", "endblocktrans"}:
                in_block_translate = False
            elif name in {"comment", "endcomment"}:
                in_comment = name == "comment"
            kept.append("0")
        elif token.token_type == TokenType.VAR:
            kept.append("0")
        elif token.token_type == TokenType.TEXT and not (in_block_translate or in_comment):
            kept.append(token.contents)
    document = "".join(kept)
    parser = _Visible()
    parser.feed(document)
    parser.close()
    return parser.found


def _reader_templates() -> list[Path]:
    return sorted(
        path
        for path in TEMPLATES.rglob("*")
        if path.suffix in {".html", ".txt"}
        and path.relative_to(TEMPLATES).parts[0] not in STAFF_TEMPLATES
    )


@pytest.mark.parametrize(
    "path", _reader_templates(), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_reader_template_has_no_unmarked_words(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".txt":
        # Plain-text mail is all text: no markup to skip, so read it as one text node.
        source = source.replace("<", "&lt;")
    assert untranslated_in_template(source) == []


# --- Python ------------------------------------------------------------------------------------

# Modules whose strings reach readers: pages, forms, the public signup answers, mail.
READER_PACKAGES = ("mailinglist", "newsletters", "operations", "demo")
# Staff's own pages and tools, operators' commands and logs: English is what they read.
STAFF_PARTS = {"admin", "management", "migrations", "dkim", "transport", "inbound", "delivery"}
# The modules whose catalogue entries may stay English (devtools/messages.py), and more:
# operators' modules whose words never reach a page.
STAFF_MODULES = messages.STAFF_MODULES | {
    "api_tokens.py",
    "api_auth.py",
    "staff.py",
    "figures.py",
    "tasks.py",
    "checks.py",
    "health.py",
    "metrics.py",
    "imports.py",
    "import_rows.py",
    "import_writes.py",
    "import_copy.py",
    "csvfiles.py",
    "api.py",  # newsletters/api.py; mailinglist/api.py's public half is checked (below)
    "stories.py",  # what editors and the API are told about a story
    "models.py",  # help texts: admin's
}
# Staff modules that still hold reader-facing strings are listed by their reader-facing names.
READER_MODULES_ANYWAY = {"mailinglist/api.py"}
GETTEXT = {
    "_",
    "gettext",
    "gettext_lazy",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
    "npgettext",
    "npgettext_lazy",
    "gettext_noop",
}
# A line may say why its words stay English: `# English: read by mail servers (RFC 8058)`.
ENGLISH_ON_PURPOSE = "# English:"
MESSAGE_CALLS = {"success", "info", "warning", "error", "add_message", "debug"}
WORDY_KEYWORDS = {"label", "help_text", "empty_label", "placeholder", "verbose_name_plural"}


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_words(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _words(node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_is_words(value) for value in node.values)
    if isinstance(node, ast.BinOp):  # "…" + "…", "…" % {...}
        return _is_words(node.left) or _is_words(node.right)
    return False


def _message_values(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Dict):
        return [value for value in node.values if value is not None]
    return [node]


class _Sinks(ast.NodeVisitor):
    """Unmarked words passed where readers see them: errors, messages, labels, answers."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []

    def _check(self, node: ast.AST) -> None:
        if _is_words(node):
            self.found.append((getattr(node, "lineno", 0), ast.unparse(node)[:80]))

    def visit_Call(self, node: ast.Call) -> None:
        name = _callee(node)
        if name in GETTEXT:
            return  # marked: what is inside is the msgid
        if name in {"ValidationError", "HttpError", "add_error", "JsonResponse", "HttpResponse"}:
            for argument in node.args:
                for value in _message_values(argument):
                    self._check(value)
        if name in MESSAGE_CALLS and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if isinstance(target, ast.Name) and target.id == "messages":
                for argument in node.args[1:2]:
                    self._check(argument)
        for keyword in node.keywords:
            if keyword.arg in WORDY_KEYWORDS or keyword.arg == "error_messages":
                for value in _message_values(keyword.value):
                    self._check(value)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            name = target.id if isinstance(target, ast.Name) else ""
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute):
                name = target.value.attr  # field.error_messages["required"] = "…"
            reader_facing = name.endswith(("_MESSAGE", "_TEXT", "_MESSAGES", "_LABEL"))
            if (reader_facing and not name.startswith("SLOT_")) or name == "error_messages":
                for value in _message_values(node.value):
                    self._check(value)
        self.generic_visit(node)


def _reader_modules() -> list[Path]:
    modules = []
    for package in READER_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            staff = STAFF_PARTS & set(path.parts) or path.name in STAFF_MODULES
            if not staff or relative in READER_MODULES_ANYWAY:
                modules.append(path)
    return modules


@pytest.mark.parametrize(
    "path", _reader_modules(), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_reader_python_has_no_unmarked_words(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    sinks = _Sinks()
    sinks.visit(ast.parse(source))
    lines = source.splitlines()
    assert [found for found in sinks.found if ENGLISH_ON_PURPOSE not in lines[found[0] - 1]] == []


# --- The checks themselves can fail ------------------------------------------------------------


def test_template_check_finds_unmarked_text_and_attributes() -> None:
    source = (
        '{% load i18n %}<p>{% translate "Fine" %}</p><p>Not fine</p>'
        '<img alt="A picture" src="x.png"><style>p { color: red }</style>'
        "{% blocktranslate trimmed with n=x %}Also fine {{ n }}{% endblocktranslate %}"
        "{% comment %}Notes for developers{% endcomment %}"
        '<a href="{{ url }}" title="{% translate "Fine too" %}">&rarr; {{ url }}</a>'
    )
    assert untranslated_in_template(source) == ["Not fine", 'alt="A picture"']


def test_python_check_finds_unmarked_messages() -> None:
    source = (
        "from django.utils.translation import gettext as _\n"
        'raise ValidationError("Pick one.")\n'
        'raise ValidationError(_("Pick one."))\n'
        'messages.success(request, f"Saved {name}.")\n'
        'ACCEPTED_MESSAGE = "Thanks"\n'
        'field = forms.CharField(label="Email address")\n'
        'field.error_messages["required"] = "Required."\n'
        'logger.info("Not for readers")\n'
    )
    sinks = _Sinks()
    sinks.visit(ast.parse(source))
    assert [line for line, _ in sinks.found] == [2, 4, 5, 6, 7]
