"""The pages' languages: gettext message catalogues read with Babel from the package.

Every ``.po`` file under ``gateway/web/translations/<language>/`` is one catalogue of that
language; a language's catalogues are merged, so each page keeps its own file and a new language
is a new folder of data, not code. English is the source language (the msgids). The language of a
request is ``?lang=`` (remembered in a cookie), else the cookie, else the browser's
Accept-Language, else English.
"""

from __future__ import annotations

import functools
import io
from importlib import resources
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, g, request

SOURCE_LANGUAGE = "en"
LANG_COOKIE = "spgw_lang"
LANGUAGE_NAMES = {"en": "English", "es": "Español"}  # each language named in itself


@functools.cache
def catalogues() -> dict[str, NullTranslations]:
    """Every shipped language's merged catalogue, read once per process."""
    found: dict[str, NullTranslations] = {SOURCE_LANGUAGE: NullTranslations()}
    root = resources.files("gateway.web") / "translations"
    for folder in sorted(root.iterdir(), key=lambda item: item.name):
        if not folder.is_dir():
            continue
        merged = Translations()
        for file in sorted(folder.iterdir(), key=lambda item: item.name):
            if file.name.endswith(".po"):
                merged.merge(_compiled(file.read_bytes(), folder.name))
        found[folder.name] = merged
    return found


def _compiled(po: bytes, language: str) -> Translations:
    catalogue = read_po(io.BytesIO(po), locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Translations(fp=buffer)


def languages() -> tuple[str, ...]:
    return tuple(catalogues())


def choose_language() -> str:
    """The language of this request (see the module doc); set on ``g`` by the pages' before_request."""
    known = languages()
    asked = request.args.get("lang", "")
    if asked in known:
        return asked
    remembered = request.cookies.get(LANG_COOKIE, "")
    if remembered in known:
        return remembered
    return request.accept_languages.best_match(known) or SOURCE_LANGUAGE


def current_language() -> str:
    return str(g.get("lang", SOURCE_LANGUAGE))


def gettext(message: str, **values: Any) -> str:
    text = _table().gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    text = _table().ngettext(singular, plural, n)
    return text % {"num": n, **values}


def _translate(message: str) -> str:
    return _table().gettext(message)


def _translate_plural(singular: str, plural: str, n: int) -> str:
    return _table().ngettext(singular, plural, n)


def _table() -> NullTranslations:
    """The request's catalogue, looked up once per request and language: a page asks for a few
    hundred messages, and resolving ``g`` and the language each time was a tenth of its render."""
    lang = current_language()
    cached = g.get("_i18n_table")
    if cached is not None and cached[0] == lang:
        return cached[1]  # type: ignore[no-any-return]
    table = catalogues().get(lang, catalogues()[SOURCE_LANGUAGE])
    g._i18n_table = (lang, table)
    return table


def install(app: Flask) -> None:
    """Give the app's templates ``_()``, ``gettext`` and ``ngettext`` in the request's language."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # newstyle: Jinja formats ``_("Hi %(name)s", name=x)`` itself, escaping the values.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        _translate, _translate_plural, newstyle=True
    )
