"""TOML configuration files with errors a person can act on.

``tomllib`` parses but says nothing about meaning, and its values carry no
line numbers. This module adds what every Active Calls service needs on top:
typed getters with defaults and ranges, unknown keys rejected, and every
error naming the file, the line and the key, as one line::

    /etc/activecalls/agent.toml:12: [mqtt] port: must be an integer within [1, 65535], got 'eighty'

Use::

    root = load_toml(path)
    mqtt = root.get_table("mqtt")
    port = mqtt.get_int("port", 1883, low=1, high=65535)
    mqtt.check_unknown()   # after every key of the section was read
    root.check_unknown()

Pure apart from reading the file; no knowledge of any service's schema.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from common.errors import ActiveCallsError

__all__ = ["REQUIRED", "ConfigError", "Table", "TomlText", "load_toml", "parse_toml"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()
T = TypeVar("T")

_HEADER: Final = re.compile(r"\s*\[\s*([^\[\]#]+?)\s*\]\s*(?:#.*)?$")
_PART: Final = r"(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)"
_KEY: Final = re.compile(rf"\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


class ConfigError(ActiveCallsError):
    """A configuration file that cannot be used; ``str()`` is the one-line message."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None, key: str = "") -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        where = "" if path is None else f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{key + ': ' if key else ''}{message}")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in re.split(r"\.(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)", text))


class TomlText:
    """The text of a TOML file, to find the line a key or table is on."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._index: dict[tuple[str, ...], int] = {}
        section: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                section = _split_key(header.group(1))
                self._index.setdefault(section, number)
                continue
            key = _KEY.match(line)
            if key:
                dotted = section + _split_key(key.group(1))
                # a.b.c = 1 also defines tables a and a.b on this line
                for end in range(len(section) + 1, len(dotted) + 1):
                    self._index.setdefault(dotted[:end], number)

    def line_of(self, dotted: Sequence[str]) -> int | None:
        """Line of ``dotted`` (``("mqtt", "port")``), or of the nearest enclosing table."""
        dotted = tuple(dotted)
        while dotted:
            if dotted in self._index:
                return self._index[dotted]
            dotted = dotted[:-1]
        return None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Table:
    """One TOML table, read key by key; remembers which keys were read so
    that :meth:`check_unknown` can reject the rest (typos)."""

    def __init__(self, data: dict[str, Any], source: TomlText, section: tuple[str, ...] = ()) -> None:
        self._data = data
        self._source = source
        self.section = section
        self._read: set[str] = set()

    @property
    def path(self) -> Path:
        return self._source.path

    def _name(self, key: str) -> str:
        return f"[{'.'.join(self.section)}] {key}" if self.section else key

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError about ``key`` of this table, with its file and line."""
        line = self._source.line_of((*self.section, key))
        return ConfigError(message, path=self._source.path, line=line, key=self._name(key))

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def _get(self, key: str, default: Any) -> tuple[bool, Any]:
        self._read.add(key)
        if key not in self._data:
            if default is REQUIRED:
                raise ConfigError(
                    "is required but missing", path=self._source.path,
                    line=self._source.line_of(self.section) if self.section else None, key=self._name(key),
                )  # fmt: skip
            return False, default
        return True, self._data[key]

    def get_str(self, key: str, default: str | _Required | None = REQUIRED, *, non_empty: bool = True) -> Any:
        found, value = self._get(key, default)
        if found:
            if not isinstance(value, str):
                raise self.error(key, f"must be a string, got {_describe(value)}")
            if non_empty and not value.strip():
                raise self.error(key, "must not be empty")
        return value

    def get_int(
        self, key: str, default: int | _Required | None = REQUIRED, *, low: int | None = None, high: int | None = None
    ) -> Any:
        found, value = self._get(key, default)
        if found:
            if type(value) is not int:  # bool is an int to Python, never to a user
                raise self.error(key, f"must be an integer{_range(low, high)}, got {_describe(value)}")
            self._check_range(key, value, low, high)
        return value

    def get_float(
        self,
        key: str,
        default: float | _Required | None = REQUIRED,
        *,
        low: float | None = None,
        high: float | None = None,
        low_exclusive: bool = False,
    ) -> Any:
        found, value = self._get(key, default)
        if found:
            if type(value) not in (int, float) or value != value:
                raise self.error(key, f"must be a number{_range(low, high)}, got {_describe(value)}")
            value = float(value)
            if low_exclusive and low is not None and value <= low:
                raise self.error(key, f"must be greater than {_num(low)}, got {_num(value)}")
            self._check_range(key, value, low, high)
        return value

    def get_floats(
        self, key: str, default: Sequence[float] | _Required, *, count: int, low: float | None = None
    ) -> tuple[float, ...]:
        """A list of exactly ``count`` numbers, each >= ``low`` if given."""
        found, value = self._get(key, default)
        if not found:
            return tuple(value)
        ok = isinstance(value, list) and len(value) == count
        ok = ok and all(type(v) in (int, float) and v == v and (low is None or v >= low) for v in value)
        if not ok:
            raise self.error(key, f"must be a list of {count} numbers{_range(low, None)}, got {_describe(value)}")
        return tuple(float(v) for v in value)

    def get_bool(self, key: str, default: bool | _Required = REQUIRED) -> Any:
        found, value = self._get(key, default)
        if found and type(value) is not bool:
            raise self.error(key, f"must be true or false, got {_describe(value)}")
        return value

    def get_str_list(self, key: str, default: list[str] | _Required = REQUIRED) -> Any:
        found, value = self._get(key, default)
        if found and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise self.error(key, f'must be a list of strings, e.g. ["a", "b"], got {_describe(value)}')
        return value

    def get_date(self, key: str, default: dt.date | _Required | None = REQUIRED) -> Any:
        found, value = self._get(key, default)
        if found and (type(value) is not dt.date):
            raise self.error(key, f"must be a date written as YYYY-MM-DD (no quotes), got {_describe(value)}")
        return value

    def get_choice(self, key: str, choices: Sequence[str], default: str | _Required = REQUIRED) -> Any:
        found, value = self._get(key, default)
        if found and value not in choices:
            raise self.error(key, f"must be one of {', '.join(map(repr, choices))}, got {_describe(value)}")
        return value

    def get_path(self, key: str, default: Path | _Required | None = REQUIRED) -> Any:
        """A file path; a relative one is taken relative to the config file's folder."""
        value = self.get_str(key, REQUIRED if default is REQUIRED else None)
        if value is None:
            return default
        if isinstance(value, str):
            path = Path(value).expanduser()
            return path if path.is_absolute() else self._source.path.parent / path
        return value

    def get_list(self, key: str, default: list[str] | _Required | None = REQUIRED) -> Any:
        """A list of strings."""
        found, value = self._get(key, default)
        if found:
            if not isinstance(value, list):
                raise self.error(key, f"must be a list of strings, got {_describe(value)}")
            for item in value:
                if not isinstance(item, str):
                    raise self.error(key, f"must be a list of strings, got {_describe(item)} in it")
            value = list(value)
        return value

    def present_keys(self) -> list[str]:
        """The keys present in this table, in file order (to read a table of free-form names)."""
        return list(self._data)

    def get_table(self, key: str) -> Table:
        """A sub-table; an absent one reads as empty (every key defaulted)."""
        found, value = self._get(key, {})
        if found and not isinstance(value, dict):
            raise self.error(key, f"must be a table ([{'.'.join((*self.section, key))}]), got {_describe(value)}")
        return Table(value, self._source, (*self.section, key))

    def check_unknown(self) -> None:
        """Reject keys that no getter asked for: they are typos or misplaced."""
        for key in self._data:
            if key not in self._read:
                where = f"in [{'.'.join(self.section)}]" if self.section else "at the top level"
                close = difflib.get_close_matches(key, sorted(self._read), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error(key, f"unknown key {where}{hint}")

    def _check_range(self, key: str, value: float, low: float | None, high: float | None) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(key, f"must be{_range(low, high)}, got {_num(value)}")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" within [{_num(low)}, {_num(high)}]"
    if low is not None:
        return f" >= {_num(low)}"
    if high is not None:
        return f" <= {_num(high)}"
    return ""


_TOML_LINE: Final = re.compile(r"\(at line (\d+), column \d+\)")


def parse_toml(text: str, path: Path) -> Table:
    """Parse TOML text (from ``path``, for messages) into the root Table."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_LINE.search(message)
        line = int(found.group(1)) if found else None
        raise ConfigError(f"not valid TOML: {_TOML_LINE.sub('', message).strip()}", path=path, line=line) from None
    return Table(data, TomlText(path, text))


def load_toml(path: Path) -> Table:
    """Read and parse a TOML file; any problem is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file (give another with --config)", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot read: {reason}", path=path) from None
    return parse_toml(text, path)
