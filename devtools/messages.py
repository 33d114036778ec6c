"""The translation catalogues in locale/: extract, merge, compile and check them with Python only.

Django's makemessages and compilemessages need GNU gettext, which a fresh machine with only Python
does not have. Babel does the same work: Django turns each template into the Python-like text it
hands xgettext (`templatize`), and Babel's extractors read that, our Python and our JavaScript.

    python -m devtools.messages update   # after changing strings: merge into every .po, compile .mo
    python -m devtools.messages check    # `make lint`: fails on anything a reader would miss

The compiled .mo files are committed, so `make run`, the container image and the tests need none
of this; `check` fails when one no longer matches its .po. Strings only staff see (admin pages) are
extracted too and may stay untranslated: Django then shows them in English.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
SOURCE_LANGUAGE = "en"
# The languages shipped (config/settings.LANGUAGES, less the source).
SHIPPED = ("ar", "fr", "es")
APPS = ("mailinglist", "newsletters", "operations", "demo", "outbox", "audit", "config")
# Modules outside an admin package whose strings only staff read (the admin home's dashboard,
# the staff login's second factor, a list's branding rules, what the send desk says: pre-send
# checks, scheduling, delivery progress and the Publisher's notices, and the desk's script).
STAFF_MODULES = {
    "admin.py",
    "admin_permissions.py",
    "dashboard.py",
    "charts.py",
    "newsroom.py",
    "two_factor.py",
    "two_factor_views.py",
    "login_throttle.py",
    "looks.py",
    "checks.py",
    "scheduling.py",
    "progress.py",
    "notices.py",
    "digest_desk.js",
}
# A fixed date in every header, so extracting twice writes the same files.
CREATION_DATE = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

Keywords = dict[str, Any]

PYTHON_KEYWORDS: Keywords = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}
JS_KEYWORDS: Keywords = {
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
}
COMMENT_TAGS = ("Translators:",)


@dataclass(frozen=True)
class Domain:
    name: str
    method: str
    keywords: Keywords


DJANGO = Domain("django", "python", PYTHON_KEYWORDS)
DJANGOJS = Domain("djangojs", "javascript", JS_KEYWORDS)


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def is_staff_source(location: str) -> bool:
    """Whether a string from `location` is shown only to staff (may fall back to English)."""
    parts = location.split("/")
    return (
        location.startswith(("templates/admin/", "templates/outbox/", "outbox/", "audit/"))
        or "admin" in parts
        or parts[-1] in STAFF_MODULES
    )


def _template_sources() -> Iterator[tuple[str, str]]:
    from django.utils.translation.template import templatize

    for path in sorted((ROOT / "templates").rglob("*")):
        if path.suffix in {".html", ".txt"}:
            text = path.read_text(encoding="utf-8")
            # What templatize writes is for xgettext, which ignores indentation; Python's tokenizer
            # (Babel's) does not. Every message is one repr()'d line, so dedenting is safe.
            python_like = templatize(text, origin=str(path))
            yield _relative(path), "\n".join(line.lstrip() for line in python_like.splitlines())


def _python_sources() -> Iterator[tuple[str, str]]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield _relative(path), path.read_text(encoding="utf-8")


def _js_sources() -> Iterator[tuple[str, str]]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("static/**/*.js")):
            yield _relative(path), path.read_text(encoding="utf-8")


def _sources(domain: Domain) -> Iterable[tuple[str, str]]:
    if domain is DJANGOJS:
        return _js_sources()
    return [*_template_sources(), *_python_sources()]


def template_catalog(domain: Domain) -> Catalog:
    """Every string the code marks for `domain`, with where it is and its translator comments."""
    catalog = Catalog(
        project="Newsdesk",
        creation_date=CREATION_DATE,
        revision_date=CREATION_DATE,
        fuzzy=False,
    )
    for location, text in _sources(domain):
        found = extract(
            domain.method,
            io.BytesIO(text.encode("utf-8")),
            keywords=domain.keywords,
            comment_tags=COMMENT_TAGS,
            strip_comment_tags=True,
        )
        for lineno, message, comments, context in found:
            catalog.add(
                message, locations=[(location, lineno)], auto_comments=comments, context=context
            )
    return catalog


def po_path(language: str, domain: Domain, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{domain.name}.po"


def _po_read(language: str, domain: Domain, locale_dir: Path = LOCALE_DIR) -> Catalog:
    path = po_path(language, domain, locale_dir)
    if not path.exists():
        return Catalog(locale=language, domain=domain.name, project="Newsdesk", fuzzy=False)
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain.name)


def _po_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=True, ignore_obsolete=True)
    return buffer.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def catalogues_update(
    languages: tuple[str, ...] = SHIPPED, locale_dir: Path = LOCALE_DIR
) -> list[Path]:
    """Merge the code's strings into each .po of `languages` (new ones empty, gone ones dropped,
    no guessed "fuzzy" matches) and compile its .mo. Returns the files that changed."""
    changed: list[Path] = []
    for domain in (DJANGO, DJANGOJS):
        template = template_catalog(domain)
        for language in languages:
            catalog = _po_read(language, domain, locale_dir)
            catalog.update(template, no_fuzzy_matching=True, update_creation_date=True)
            path = po_path(language, domain, locale_dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            po = _po_bytes(catalog)
            # Compiled from the .po as written and read back, as the check compiles it: the
            # merged catalogue in memory can differ (an untranslated plural has fewer forms
            # than the language's until it is read again), and the .mo would then fail the
            # check until a second update.
            written = read_po(io.BytesIO(po), locale=language, domain=domain.name)
            for target, content in ((path, po), (path.with_suffix(".mo"), mo_bytes(written))):
                if not target.exists() or target.read_bytes() != content:
                    target.write_bytes(content)
                    changed.append(target)
    return changed


def catalogue_problems(locale_dir: Path = LOCALE_DIR) -> list[str]:
    """What stops a shipped language from being complete, one line each (empty: all is well)."""
    problems: list[str] = []
    for domain in (DJANGO, DJANGOJS):
        template = template_catalog(domain)
        wanted = {(m.context, m.id) for m in template if m.id}
        for language in SHIPPED:
            path = po_path(language, domain, locale_dir)
            name = path.relative_to(locale_dir.parent).as_posix()
            if not path.exists():
                problems.append(f"{name}: missing (run: python -m devtools.messages update)")
                continue
            catalog = _po_read(language, domain, locale_dir)
            have = {(m.context, m.id) for m in catalog if m.id}
            for _context, msgid in sorted(wanted - have, key=str):
                problems.append(f"{name}: not extracted yet: {msgid!r} (run the update)")
            for _context, msgid in sorted(have - wanted, key=str):
                problems.append(f"{name}: no longer in the code: {msgid!r} (run the update)")
            for message in catalog:
                if not message.id:
                    continue
                label = f"{name}:{message.lineno}: {message.id!r}"
                staff_only = bool(message.locations) and all(
                    is_staff_source(location) for location, _ in message.locations
                )
                if message.fuzzy:
                    problems.append(f"{label} is marked fuzzy")
                elif not _translated(message.string) and not staff_only:
                    problems.append(f"{label} is not translated")
                for error in message.check(catalog):
                    problems.append(f"{label}: {error}")
                problems += [f"{label}: {problem}" for problem in _shape_problems(message)]
            mo_path = path.with_suffix(".mo")
            if not mo_path.exists() or mo_path.read_bytes() != mo_bytes(catalog):
                problems.append(f"{name[:-3]}.mo does not match its .po (run the update)")
    return problems


# A named or positional printf placeholder (not "%%"), and an HTML tag.
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|(?<!%)%[sdif]")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def _shape_problems(message: Message) -> list[str]:
    """What a translation lost or invented of its source's placeholders and tags.

    Babel only checks that a translation names no placeholder its source lacks; Python allows
    leaving one out, but a reader would then miss the address or number the sentence is about.
    """
    if not _translated(message.string):
        return []
    sources = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
    forms = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
    problems = []
    for form in (form or "" for form in forms):
        for pattern, what in ((PLACEHOLDER, "placeholders"), (TAG, "HTML tags")):
            wanted = sorted(pattern.findall(sources[-1]))
            if sorted(pattern.findall(form)) != wanted:
                problems.append(f"{what} differ from the source: {form!r} should have {wanted}")
    return problems


def _translated(string: str | tuple[str, ...] | list[str] | None) -> bool:
    if string is None:
        return False
    if isinstance(string, str):
        return bool(string.strip())
    return all(part.strip() for part in string)


def main(argv: list[str] | None = None) -> int:
    import django

    parser = argparse.ArgumentParser(prog="python -m devtools.messages", description=__doc__)
    parser.add_argument("command", choices=("update", "check"))
    parser.add_argument(
        "--language", choices=SHIPPED, action="append", help="update only this language"
    )
    args = parser.parse_args(argv)
    # templatize() reads the template engine's settings.
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "on")
    django.setup()
    if args.command == "update":
        for path in catalogues_update(tuple(args.language or SHIPPED)):
            print(f"wrote {_relative(path)}")
        return 0
    problems = catalogue_problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the translations", file=sys.stderr)
        return 1
    print(f"translations complete: {', '.join(SHIPPED)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
