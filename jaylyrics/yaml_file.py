"""Reading a YAML config file into a dict, every way it can go wrong a one-line `ConfigError`
that names the file (and line): no such file (with the name it may have meant), a run or a corpus
given for a config, not UTF-8, a YAML syntax error (tabs, backslashes in double quotes, a key
typed with a full-width colon), a key given twice. Numbers are read as YAML 1.2 reads them (1e-3
is a number, 010 is ten, 1:30 and 2024-01-01 are text), and written so that they read back.

What the keys mean and which values they take is `config.py`'s concern.
"""

from __future__ import annotations

import codecs
import difflib
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from jaylyrics import ConfigError, windows_path


def read(path: Path, sections: tuple[str, ...]) -> Any:
    """Parse a YAML file (UTF-8, or UTF-16 with its byte-order mark, as YAML allows) that should
    hold a mapping of `sections`, turning every failure into a one-line ConfigError."""
    if not path.exists():
        raise ConfigError(f"{path}: no such config file"
                          f"{windows_path(path) or _config_nearby(path)}")
    if path.is_dir():
        if (path / "config.yaml").is_file():
            raise _a_run_given(path, path, "a run directory")
        raise ConfigError(f"{path}: is a directory, expected a YAML config file")
    if path.suffix.lower() == ".params":
        raise _a_run_given(path, path.parent, "a checkpoint's weights")
    if path.suffix.lower() in (".zip", ".txt", ".lrc"):      # the corpus given as the config
        raise ConfigError(f"{path}: a corpus, not a YAML config: give it as --set "
                          f"data.corpus={path} (--config takes a file such as "
                          "configs/default.yaml)")
    try:
        data = path.read_bytes()
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        text = data.decode("utf-16" if utf16 else "utf-8")
    except UnicodeDecodeError as e:
        if utf16:
            raise ConfigError(f"{path}: starts as UTF-16 but is not ({e.reason}); save it as "
                              "UTF-8") from None
        line = e.object.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}: not UTF-8 text (invalid byte 0x{e.object[e.start]:02x} on "
                          f"line {line}, at offset {e.start}); save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as e:
        raise ConfigError(f"{path}: line {e.line}: {e.key} is given twice (first on line "
                          f"{e.first}); keep one") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if problem == "but found another document":            # a `---` line below the keys
            problem = ("a second YAML document starts here (---); a config is one document: "
                       "keep one, or merge their keys")
        raise ConfigError(f"{path}:{where}: YAML syntax error: {problem}"
                          f"{_full_width_colon(text) or _syntax_hint(e, problem, text)}") from None
    except RecursionError:                 # [[[[...]]]] thousands deep: Python's own limit
        raise ConfigError(f"{path}: nested too deeply to read; expected sections "
                          f"{', '.join(sections)} holding keys and values") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with sections {', '.join(sections)}, "
                          f"got {type(data).__name__}{_full_width_colon(text)}")
    if {"format", "config", "vocab"} <= set(data):            # best.json, last.json
        raise _a_run_given(path, path.parent, "a checkpoint")
    return data


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first: int):
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class NumberLoader(yaml.SafeLoader):
    """YAML's safe loader, reading numbers as YAML 1.2 (and Python) reads them, not as PyYAML's
    YAML 1.1: 1e-3 is a number (1.1: text, an exponent without a dot), 010 is ten (1.1: octal
    eight), and 1:30 (1.1: ninety, in base 60) and 2024-01-01 (1.1: a date) are text, as no
    key of a config takes a time or a date."""


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
NumberLoader.yaml_implicit_resolvers = {           # SafeLoader's, without its numbers and dates
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in (_INT, _FLOAT, "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
NumberLoader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+)$"), list("-+0123456789"))
NumberLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                           |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                           |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                           |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _construct_int(loader: NumberLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    return int(text, 0) if re.match(r"[-+]?0[xb]", text) else int(text, 10)   # 010: ten


NumberLoader.add_constructor(_INT, _construct_int)


def _checked(construct):
    """A constructor that says, as a YAML error at the value, that an explicit tag does not fit
    it (`epochs: !!int x`, `!!bool maybe`), where PyYAML's raise ValueError, KeyError, ..."""
    def checked(loader, node):
        try:
            return construct(loader, node)
        except (ValueError, TypeError, LookupError, AttributeError):
            raise yaml.constructor.ConstructorError(
                None, None, f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} does not "
                f"fit {node.value!r}", node.start_mark) from None
    return checked


for _tag in (_INT, _FLOAT, "tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"):
    NumberLoader.add_constructor(_tag, _checked(NumberLoader.yaml_constructors[_tag]))


class _Dumper(yaml.SafeDumper):
    """YAML's safe dumper, quoting a text that NumberLoader or PyYAML's own loader would read as
    something else (a prefix 1e3 or 09, a directory 2024-01-01), so that both read it back."""


_Dumper.yaml_implicit_resolvers = {
    first: resolvers + NumberLoader.yaml_implicit_resolvers.get(first, [])
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()}


def dump(data: Any, allow_unicode: bool = True) -> str:
    """`data` as YAML that `read` (and yaml.safe_load) reads back as it is, keys in their order."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=allow_unicode, sort_keys=False)


class _UniqueKeyLoader(NumberLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps
    the last one without a word: `lr: 0.002` further down would silently win)."""

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):    # (`!!map x`: the base class says so)
            return super().construct_mapping(node, deep=deep)
        first_line: dict = {}
        prefix = getattr(node, "jaylyrics_prefix", "")        # "train." inside train:
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue                              # unhashable: the base class says so
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise _DuplicateKey(f"{prefix}{key}", line, first_line[key])
            first_line[key] = line
            if isinstance(value_node, yaml.MappingNode):
                value_node.jaylyrics_prefix = f"{prefix}{key}."
        return super().construct_mapping(node, deep=deep)


def _config_nearby(path: Path) -> str:
    """For a --config that is not there: '; did you mean X?' for the YAML file whose name is
    closest, beside where it was looked for or among the project's configs (configs/default.yml,
    configs/defualt.yaml, tiny.yaml, default: configs/...), else the YAML files beside it (a
    directory of the user's own configs), else the project's configs; '' if there are none."""
    from jaylyrics import PROJECT_DIR

    def yamls(directory: Path) -> list[Path]:
        try:
            return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
        except OSError:
            return []

    ours, beside = yamls(PROJECT_DIR / "configs"), yamls(path.parent)
    found = {f.stem: f for f in ours}
    found.update({f.stem: f for f in beside})                    # beside it first
    close = difflib.get_close_matches(path.stem, list(found), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {_from_here(found[close[0]])}?"
    listed, what = (beside, "beside it") if beside else (ours, "the project's configs")
    if not listed:
        return ""
    return f" ({what}: {', '.join(str(_from_here(f)) for f in listed)})"


def _from_here(path: Path) -> Path:
    """`path` relative to the working directory when it is inside it (configs/tiny.yaml)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _a_run_given(path: Path, run: Path, what: str) -> ConfigError:
    """--config given a run (its directory, sidecar or weights) where its config.yaml was meant:
    the two commands it may have meant."""
    return ConfigError(f"{path}: {what}, not a YAML config: to train a new run with its "
                       f"settings, --config {shlex.quote(str(run / 'config.yaml'))} --set "
                       f"train.out_dir=DIR; to go on training it, --resume "
                       f"{shlex.quote(str(run))}")


# A line whose key ends in a full-width colon (as a Chinese input method types it), which YAML
# reads as part of a text: `epochs：10` (comments left out: a `#` before it)
_FULL_WIDTH_KEY = re.compile(r"^[^#:：\n]*：", re.MULTILINE)


def _syntax_hint(e: yaml.YAMLError, problem: str, text: str) -> str:
    """' (...)': what PyYAML's words for a syntax error come from in a config, and what to do;
    '' when it is none of these."""
    mark, context = getattr(e, "problem_mark", None), getattr(e, "context", None) or ""
    opened = getattr(e, "context_mark", None)
    if "'\\t'" in problem:
        return " (YAML indents with spaces, not tabs)"
    if "escape" in problem:                             # "C:\Users\me": \U wants 8 hex digits
        return (" (in double quotes a backslash starts an escape: write a path in single "
                "quotes, or with /)")
    if problem.startswith("the tag !!"):                        # epochs: !!int x
        return " (leave the tag out: each key's type is known)"
    if problem.startswith("found undefined alias"):             # out_dir: *runs
        return " (YAML reads a value that starts with * as an alias: put the value in quotes)"
    if "cannot start any token" in problem:                     # a value starting with @ or `
        return " (YAML does not let a value start with it: put the value in quotes)"
    unclosed = next((what for start, what in (("while scanning a quoted scalar", "quote"),
                                              ("while parsing a flow sequence", "["),
                                              ("while parsing a flow mapping", "{"))
                     if context.startswith(start)), None)
    if unclosed and opened is not None and problem.endswith(("<stream end>'", "end of stream")):
        return f" (the {unclosed} opened on line {opened.line + 1} is never closed)"
    if mark is None:
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    if problem == "mapping values are not allowed here":
        key = re.match(r"\s*[^\s:#][^:#]*:\s", line)
        if key and key.end() <= mark.column:        # a second ': ' on the line: in the value
            return " (a value with ': ' in it: put the value in quotes)"
    if problem == "mapping values are not allowed here" or (
            problem.startswith("expected <block end>") and context.endswith("block mapping")):
        return (f" (line {mark.line + 1} is indented unlike the keys above it: the keys of a "
                "section line up, each under the one before)")
    return ""


def _full_width_colon(text: str) -> str:
    """' (line N: ...)' naming the first line with a full-width colon after its key, for the
    error that YAML (or the shape check) gives for it; else ''."""
    found = _FULL_WIDTH_KEY.search(text)
    if not found:
        return ""
    return (f" (line {text.count(chr(10), 0, found.start()) + 1}: {found.group().strip()!r} "
            "ends in a full-width colon; YAML needs ':' and a space)")
