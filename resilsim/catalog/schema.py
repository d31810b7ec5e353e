"""The format of a catalog file, as pydantic models: each field's check sits beside the field.

A rejected file gets one sentence, ``FIELD: what is wrong and what is allowed`` (:func:`problem`;
the loader puts the file's name in front). Strings are strict: YAML reads ``no``, ``404`` or
``null`` as other types, which in a catalog is a typo.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .api import BODY_FORMATS, ROLE_FIELDS, Catalog
from .codes import ADVICE, ErrorCode, closest_codes, in_family

# -- field checks -------------------------------------------------------------------------------


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} must be a string")
    return value


def _filled(value: object) -> str:
    if not _string(value).strip():
        raise ValueError("must not be empty")
    return value


def _code(value: object) -> str:
    # Unquoted, YAML reads -7 or 104000 as a number; a code is the text the document prints.
    if not isinstance(value, str):
        raise ValueError(f'{value!r} must be a quoted string, like "{value}"')
    return _filled(value).strip()


def _role_code(value: object) -> str | None:
    return None if value is None else _code(value)


def _http_status(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 599:
        raise ValueError(f"{value!r} is not an HTTP status (an integer from 100 to 599)")
    return value


def _one_of(allowed: tuple[str, ...]):
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value
    return check


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} must be true or false")
    return value


def _json_body(value: object) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise ValueError("must be a mapping (the JSON body) or null (an empty body)")
    return value


Text = Annotated[str, BeforeValidator(_string)]
Filled = Annotated[str, BeforeValidator(_filled)]
Code = Annotated[str, BeforeValidator(_code)]
RoleCode = Annotated[str | None, BeforeValidator(_role_code)]
HttpStatus = Annotated[int, BeforeValidator(_http_status)]
Advice = Annotated[str, BeforeValidator(_one_of(ADVICE))]
BodyFormat = Annotated[str, BeforeValidator(_one_of(BODY_FORMATS))]
Flag = Annotated[bool, BeforeValidator(_flag)]
JsonBody = Annotated[dict | None, BeforeValidator(_json_body)]
#: Fields of an entry that may be marked as resilsim's assumption (the seed does not state them).
ASSUMABLE = ("http", "name", "category", "message", "resolution", "advice", "body")
Assumable = Annotated[str, BeforeValidator(_one_of(ASSUMABLE))]
Role = Annotated[str, BeforeValidator(_one_of(ROLE_FIELDS))]


def _at(path: tuple, message: str) -> PydanticCustomError:
    """An error a model check raises about one of its fields (``path`` below the model's own place)."""
    return PydanticCustomError("catalog_field", "{message}", {"message": message, "at": path})


def _required(model: type[BaseModel]) -> str:
    return ", ".join(name for name, f in model.model_fields.items() if f.is_required())


# -- the models ---------------------------------------------------------------------------------


class _Entry(BaseModel):
    """The fields every entry has: one error code as its seed document describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Code
    http: HttpStatus
    name: Filled
    category: Text
    message: Filled
    resolution: Text = ""
    advice: Advice
    assumed: list[Assumable] = []   # fields the seed does not state: resilsim's guesses

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"must be a mapping with the fields {_required(cls)}")
        return data


class CodeEntry(_Entry):
    """An entry of ``codes:``, a documented code; ``family: true`` makes ``104XXX`` stand for 104000-104999."""

    family: Flag = False

    @model_validator(mode="after")
    def _family_marks_digits(self) -> CodeEntry:
        if self.family and "X" not in self.code:
            raise _at(("code",), f"{self.code!r} is a family, so it must mark its variable digits with X, "
                                 "like 104XXX")
        return self

    def error_code(self) -> ErrorCode:
        """The entry as the catalog holds it."""
        return ErrorCode(self.code, self.http, self.name, self.category, self.message, self.resolution,
                         self.advice, self.family, tuple(self.assumed))


class StatusEntry(_Entry):
    """An entry of ``statuses:``, a response without a code (``HTTP_429``); ``body`` is its literal body."""

    body: JsonBody = None

    @model_validator(mode="after")
    def _named_by_status(self) -> StatusEntry:
        if self.code != f"HTTP_{self.http}":
            raise _at(("code",), f"{self.code!r} must be HTTP_{self.http} (HTTP_ and the entry's http status)")
        return self

    def error_code(self) -> ErrorCode:
        """The entry as the catalog holds it."""
        return ErrorCode(self.code, self.http, self.name, self.category, self.message, self.resolution,
                         self.advice, assumed=tuple(self.assumed))


#: Codes (and statuses) a catalog may list: a run keeps each attempt's code in 16 bits, beside the
#: family members a scenario names.
MAX_CODES = 10_000


class CatalogFile(BaseModel):
    """A whole catalog file: the API, its body format, its role codes, its codes and its code-less statuses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api: Filled
    title: Filled
    source: Text = ""
    body: BodyFormat
    rate_limit_code: RoleCode = None
    quota_code: RoleCode = None
    overload_code: RoleCode = None
    timeout_code: RoleCode = None
    auth_code: RoleCode = None
    assumed: list[Role] = []   # role codes that are resilsim's choice, not the seed's word
    codes: list[CodeEntry]
    statuses: list[StatusEntry] = []

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a catalog file must be a mapping with the fields {_required(cls)}")
        return data

    @field_validator("codes", mode="before")
    @classmethod
    def _some_codes(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError("must be a non-empty list of error codes")
        if len(value) > MAX_CODES:
            raise ValueError(f"has {len(value):,} entries; a catalog may have at most {MAX_CODES:,}")
        return value

    @field_validator("statuses", mode="before")
    @classmethod
    def _status_list(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("must be a list of status entries")
        if len(value) > MAX_CODES:
            raise ValueError(f"has {len(value):,} entries; a catalog may have at most {MAX_CODES:,}")
        return value

    @model_validator(mode="after")
    def _each_code_once(self) -> CatalogFile:
        seen: dict[str, str] = {}
        for section in ("codes", "statuses"):
            for i, entry in enumerate(getattr(self, section)):
                if entry.code in seen:
                    raise _at((section, i, "code"), f"{entry.code!r} duplicates {seen[entry.code]}.code")
                seen[entry.code] = f"{section}[{i}]"
        return self

    @model_validator(mode="after")
    def _roles_are_codes(self) -> CatalogFile:
        known = [e.code for e in (*self.codes, *self.statuses)]
        families = [e.code for e in self.codes if e.family]
        for role in ROLE_FIELDS:
            value = getattr(self, role)
            if value is None or value in known or any(in_family(value, f) for f in families):
                continue
            closest = ", ".join(closest_codes(value, known))
            raise _at((role,), f"{value!r} is not a code of this catalog; closest: {closest}")
        return self

    def to_catalog(self) -> Catalog:
        """The :class:`Catalog` this file describes."""
        return Catalog(
            api=self.api,
            title=self.title,
            source=self.source,
            body_format=self.body,
            codes=tuple(e.error_code() for e in (*self.codes, *self.statuses)),
            status_codes=frozenset(s.code for s in self.statuses),
            # Only a body the file gives is literal; without one, the format's code-less body is sent.
            status_bodies={s.code: s.body for s in self.statuses if "body" in s.model_fields_set},
            assumed_roles=frozenset(self.assumed),
            **{role: getattr(self, role) for role in ROLE_FIELDS},
        )


# -- one sentence per rejected file -------------------------------------------------------------

_SECTIONS: dict[str, type[BaseModel]] = {"codes": CodeEntry, "statuses": StatusEntry}


def problem(error: ValidationError) -> str:
    """``FIELD: what is wrong`` for the error that explains a rejected file best.

    An unknown field comes first (a misspelt key also makes its real one "missing"); else the
    first error in the file's order.
    """
    errors = error.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    if err["type"] == "catalog_field":
        loc += tuple(err["ctx"]["at"])
    where = _path(loc)
    if err["type"] == "extra_forbidden":
        allowed = list(_model_at(loc[:-1]).model_fields)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"{where}: unknown field; {hint}allowed: {', '.join(allowed)}"
    if err["type"] == "missing":
        return f"{where}: required field is missing"
    text = err["msg"].removeprefix("Value error, ")
    return f"{where}: {text}" if where else text


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple) -> type[BaseModel]:
    return _SECTIONS[loc[0]] if len(loc) == 2 else CatalogFile
