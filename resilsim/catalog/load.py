"""Reading catalogs: the built-in ones by name (parsed once), a user's YAML file by path."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import CatalogError
from ..yamlsafe import YamlInputError, parse, parse_shipped, read_text
from .api import Catalog
from .codes import ErrorCode

#: The built-in catalogs, one per seed API.
API_NAMES = ("analytics", "nanostream", "counters")


def load_catalog(name_or_path: str | os.PathLike[str] | Catalog) -> Catalog:
    """The catalog of a built-in API (``"analytics"``, ``"nanostream"``, ``"counters"``) or of a
    user's YAML file in the same format.

    Built-in catalogs are parsed once and cached; a file is read on every call. A Catalog is
    returned as it is. Raises :class:`CatalogError` for a missing or invalid file.
    """
    if isinstance(name_or_path, Catalog):
        return name_or_path
    if isinstance(name_or_path, str) and name_or_path in API_NAMES:
        return _builtin(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise CatalogError(
            f"{name_or_path}: no such catalog; give one of {', '.join(API_NAMES)} "
            "or the path of a catalog YAML file"
        )
    try:
        text = read_text(path, "catalog")
    except YamlInputError as exc:
        raise CatalogError(f"{name_or_path}: {exc.reason}") from None
    return parse_catalog(text, str(name_or_path))


@functools.lru_cache(maxsize=None)
def _builtin(name: str) -> Catalog:
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return parse_catalog(text, f"resilsim/catalog/{name}.yaml", shipped=True)


def classify(api: str | os.PathLike[str] | Catalog, http_status: int, body: Any) -> ErrorCode | None:
    """The error entry of ``api`` that a response stands for; see :meth:`Catalog.classify`."""
    return load_catalog(api).classify(http_status, body)


def parse_catalog(text: str, label: str, shipped: bool = False) -> Catalog:
    """The catalog a YAML document describes; ``label`` names the file in error messages.

    Raises :class:`CatalogError` with one sentence: the file, the field and what is allowed. ``shipped``: the
    text is one of the package's own catalogs, read with :func:`resilsim.yamlsafe.parse_shipped` (quicker).
    """
    # pydantic only here: importing the catalog (and the policies that read its family rule) stays cheap.
    from pydantic import ValidationError

    from .schema import CatalogFile, problem

    try:
        data = parse_shipped(text, "catalog") if shipped else parse(text, "catalog")
    except YamlInputError as exc:
        reason = exc.reason.removeprefix("is ")
        if exc.line is not None:
            reason = f"{reason[:-1]} at line {exc.line})" if reason.endswith(")") else f"{reason} at line {exc.line}"
        raise CatalogError(f"{label}: {reason}") from None
    try:
        return CatalogFile.model_validate(data).to_catalog()
    except ValidationError as exc:
        raise CatalogError(f"{label}: {problem(exc)}") from None
