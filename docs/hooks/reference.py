"""The generated references: every job key (from the pydantic :class:`~rtseg.jobs.spec.JobSpec` model) and
every CLI command and option (from the Typer app, through click's own objects), as rows and as Markdown.

An MkDocs hook (``hooks:`` in mkdocs.yml): at build time :func:`on_page_markdown` replaces the marker
comments ``<!-- rtseg:job-keys -->`` and ``<!-- rtseg:cli -->`` in a page with the tables, so the
reference pages are the code's own descriptions (``Field`` descriptions and attribute docstrings in
``rtseg/jobs/spec.py``, Typer ``help=`` and command docstrings) and cannot drift from it. A page that
should hold a table and lost its marker fails the build. Every key and option has its own anchor
(``reference/jobs.md#mask.infer_every``, ``reference/cli.md#rtseg-webcam--vcam-format``), so guides can
link to it and ``mkdocs build --strict`` checks those links. ``tests/test_docs.py`` imports this module
to check that every row has a description.

A hook rather than mkdocs-gen-files: the reference pages stay ordinary files in ``docs/`` (their prose
is written there, the tables are filled in), nothing but MkDocs itself is needed, and this module is a
plain importable file for the tests.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

JOB_KEYS_MARKER = "<!-- rtseg:job-keys -->"
CLI_MARKER = "<!-- rtseg:cli -->"
# Which page must hold which marker (a reference page without its table would be a silent gap).
PAGES = {"reference/jobs.md": JOB_KEYS_MARKER, "reference/cli.md": CLI_MARKER}


# -- job keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobKey:
    """One key of a job file: ``[section] key = value`` (``section`` is ``""`` for top-level keys)."""

    section: str
    key: str
    type: str
    default: str
    range: str
    description: str

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key


@dataclass(frozen=True)
class JobSection:
    """A table of the job file: ``[mask.carry]``, or ``[[outputs]]`` for a list of tables."""

    name: str
    array: bool
    description: str
    keys: list[JobKey]

    @property
    def heading(self) -> str:
        return f"[[{self.name}]]" if self.array else f"[{self.name}]"


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without ``None``, whether ``None`` is allowed)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        inner = args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
        return inner, optional
    return annotation, False


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The sub-model a field holds (and whether as a list of them), or (None, False)."""
    inner, _ = _unwrap(annotation)
    if inspect.isclass(inner) and issubclass(inner, BaseModel):
        return inner, False
    if typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner)
        if inspect.isclass(item) and issubclass(item, BaseModel):
            return item, True
    return None, False


def type_name(annotation: Any) -> str:
    """A job file's view of a type: ``int``, ``number``, ``text``, ``true/false``, ``list of text``..."""
    inner, optional = _unwrap(annotation)
    if typing.get_origin(inner) is typing.Annotated:
        inner = typing.get_args(inner)[0]
    origin = typing.get_origin(inner)
    if origin in (typing.Union, types.UnionType):
        name = " or ".join(type_name(a) for a in typing.get_args(inner))
    elif origin is list:
        name = f"list of {type_name(typing.get_args(inner)[0])}"
    elif origin is tuple:
        name = "[" + ", ".join(type_name(a) for a in typing.get_args(inner)) + "]"
    elif inspect.isclass(inner) and issubclass(inner, enum.Enum):
        name = "text"
    elif inner is bool:
        name = "true/false"
    elif inner is int:
        name = "int"
    elif inner is float:
        name = "number"
    elif inner is str:
        name = "text"
    elif inspect.isclass(inner) and issubclass(inner, BaseModel):
        name = "table"
    else:
        name = getattr(inner, "__name__", str(inner))
    return f"{name} (optional)" if optional else name


def _toml(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return _toml(field.default_factory())
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None:
        return "unset"
    return _toml(field.default)


_PROBE = "\x00"
_ONE_OF = re.compile(r"expected one of:? (.+?)(?:, got .*)?$")


def _validated_choices(model: type[BaseModel], key: str) -> list[str]:
    """The choices of a text key that a validator checks against an enum or a registry (``mask.smoothing``,
    ``model.name``): the names its own error lists for a value no key accepts."""
    from pydantic import ValidationError

    try:
        model.model_validate({key: _PROBE})
    except ValidationError as exc:
        for err in exc.errors():
            found = _ONE_OF.search(str(err["msg"])) if err["loc"][:1] == (key,) else None
            if found:
                return [c.strip() for c in found.group(1).split(",")]
    return []


def _range(field: Any, model: type[BaseModel] | None = None, key: str = "") -> str:
    """``0 ≤ x ≤ 1``, ``> 0`` from the field's constraints; the choices of an enum type, or of a text key
    whose validator names them."""
    lower = upper = ""
    for m in field.metadata:
        if isinstance(m, annotated_types.Gt):
            lower = f"{m.gt} <"
        elif isinstance(m, annotated_types.Ge):
            lower = f"{m.ge} ≤"
        elif isinstance(m, annotated_types.Lt):
            upper = f"< {m.lt}"
        elif isinstance(m, annotated_types.Le):
            upper = f"≤ {m.le}"
    inner, _ = _unwrap(field.annotation)
    if inspect.isclass(inner) and issubclass(inner, enum.Enum):
        return " | ".join(f'"{e.value}"' for e in inner)
    if inner is str and model is not None:
        choices = _validated_choices(model, key)
        if choices:
            return " | ".join(f'"{c}"' for c in choices)
    if lower and upper:
        return f"{lower} x {upper}"
    if lower:
        return f"x {'>' if lower.endswith('<') else '≥'} {lower.split()[0]}"
    if upper:
        return f"x {upper}"
    return ""


def _clean(text: str | None) -> str:
    """One line: a description as a table cell."""
    return " ".join((text or "").split())


def _paragraphs(text: str | None) -> str:
    """A docstring or help text with its paragraphs kept (blank lines) and each paragraph on one line."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(text or ""))
    return "\n\n".join(_clean(p) for p in paragraphs if p.strip())


def job_sections(model: type[BaseModel] | None = None) -> list[JobSection]:
    """Every table of a job file, top level first, in the model's field order."""
    if model is None:
        from rtseg.jobs.spec import JobSpec

        model = JobSpec
    out: list[JobSection] = []

    def walk(m: type[BaseModel], name: str, array: bool) -> None:
        keys: list[JobKey] = []
        subs: list[tuple[type[BaseModel], str, bool, Any]] = []
        for key, field in m.model_fields.items():
            sub, sub_array = _model_of(field.annotation)
            if sub is not None:
                subs.append((sub, f"{name}.{key}" if name else key, sub_array, field))
                continue
            keys.append(JobKey(name, key, type_name(field.annotation), _default(field), _range(field, m, key),
                               _clean(field.description)))
        doc = m.__doc__ if m.__doc__ and m.__doc__ != inspect.getdoc(BaseModel) else ""
        out.append(JobSection(name, array, _paragraphs(doc), keys))
        for sub, sub_name, sub_array, _field in subs:
            walk(sub, sub_name, sub_array)

    walk(model, "", False)
    return out


def job_keys(model: type[BaseModel] | None = None) -> list[JobKey]:
    """Every key of a job file (``section``, ``key``, ``type``, ``default``, ``range``, ``description``)."""
    return [key for section in job_sections(model) for key in section.keys]


_CODE = re.compile(r"(``?)(.+?)\1")
_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text).replace("<", "&lt;")


def _cell(text: str) -> str:
    """Plain text from the code as Markdown: its specials escaped (``synthetic[:WxH][@N]`` is not a link),
    code spans (single or RST double backquotes) kept as they are."""
    out, pos = [], 0
    for m in _CODE.finditer(text):
        out.append(_escape(text[pos:m.start()]))
        out.append(f"`{m.group(2)}`")
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


def _code(text: str) -> str:
    """``text`` as one inline code span in a table cell (the tables extension does not split cells on a
    code span's pipes)."""
    return f"`{text}`" if text else ""


def job_keys_markdown(model: type[BaseModel] | None = None) -> str:
    """The job keys as one Markdown table per section."""
    lines: list[str] = []
    for section in job_sections(model):
        if section.name:
            lines += [f"## `{section.heading}` {{ #{section.name.replace('.', '-')} }}", ""]
        else:
            lines += ["## Top level { #top-level }", ""]
        if section.description:
            lines += [_cell(section.description), ""]
        if not section.keys:
            continue
        lines += ["| Key | Type | Default | Range / choices | Description |", "|---|---|---|---|---|"]
        for k in section.keys:
            lines.append(f"| `{k.key}`{{ #{k.name} }} | {_cell(k.type)} | {_code(k.default)} | {_cell(k.range)} | "
                         f"{_cell(k.description)} |")
        lines.append("")
    return "\n".join(lines)


# -- CLI --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliOption:
    """One option or argument of one command (``command`` is ``""`` for ``rtseg``'s own options)."""

    command: str
    name: str
    """The option's first long name (``--vcam-format``) or the argument's name (``input``)."""
    kind: str
    """``option`` or ``argument``."""
    usage: str
    """As ``--help`` shows it: ``--blur [N]``, ``--loop / --no-loop``, ``INPUT``."""
    default: str
    description: str


@dataclass(frozen=True)
class CliCommand:
    name: str
    usage: str
    description: str
    options: list[CliOption]


def _click_app(app: Any = None) -> Any:
    """A Typer app (default: ``rtseg``'s, every command registered) as click's command group."""
    import typer.main

    if app is None:
        import rtseg.cli

        rtseg.cli.register_commands()
        app = rtseg.cli.app
    return typer.main.get_command(app)


def _param_row(command: str, param: Any, ctx: Any) -> CliOption:
    if param.param_type_name == "argument":
        usage = " ".join(param.get_usage_pieces(ctx))
    else:
        record = param.get_help_record(ctx)
        usage = record[0] if record else "/".join(param.opts)
    default = param.default
    if callable(default) or default is None or default is False or default == () or getattr(param, "is_flag", False):
        shown = ""
    else:
        shown = _toml(default).strip('"')
    longs = [o for o in param.opts if o.startswith("--")]
    name = longs[0] if longs and param.param_type_name == "option" else param.opts[0] if param.opts else ""
    return CliOption(command, name or param.name or "", param.param_type_name, usage, shown, _clean(param.help))


def cli_anchor(command: str, option: str = "") -> str:
    """The id of a command (``rtseg-webcam``) or of its option (``rtseg-webcam--vcam-format``) or argument
    (``rtseg-track-input``) on the CLI page."""
    anchor = f"rtseg-{command}" if command else "rtseg"
    return anchor + (option if option.startswith("--") else f"-{option}" if option else "")


def cli_commands(app: Any = None) -> list[CliCommand]:
    """``rtseg`` itself (its global options) and every command, in the order ``rtseg --help`` lists them
    (``app``: another Typer app, for the tests)."""
    group = _click_app(app)
    root = group.make_context("rtseg", ["--help"], resilient_parsing=True)
    out = [CliCommand("", "rtseg [OPTIONS] COMMAND [ARGS]...", _paragraphs(group.help),
                      [_param_row("", p, root) for p in group.params if not getattr(p, "hidden", False)])]
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is None or command.hidden:
            continue
        ctx = command.make_context(name, [], parent=root, resilient_parsing=True)
        usage = " ".join(["rtseg", name, *command.collect_usage_pieces(ctx)])
        rows = [_param_row(name, p, ctx) for p in command.params if not getattr(p, "hidden", False)]
        out.append(CliCommand(name, usage, _paragraphs(command.help), rows))
    return out


def cli_options(app: Any = None) -> list[CliOption]:
    """Every option and argument of every command (``command``, ``name``, ``kind``, ``usage``, ``default``,
    ``description``)."""
    return [option for command in cli_commands(app) for option in command.options]


def cli_markdown() -> str:
    """Every command: its description, usage line and a table of its arguments and options."""
    lines: list[str] = []
    for command in cli_commands():
        title = f"rtseg {command.name}" if command.name else "rtseg"
        anchor = cli_anchor(command.name)
        lines += [f"## `{title}` {{ #{anchor} }}", "", _cell(command.description), "", "```text", command.usage, "```",
                  ""]
        if command.options and any(o.default for o in command.options):
            lines += ["| Argument / option | Default | Description |", "|---|---|---|"]
            lines += [f"| {_code(o.usage)}{{ #{cli_anchor(command.name, o.name)} }} | {_code(o.default)} | "
                      f"{_cell(o.description)} |" for o in command.options]
            lines.append("")
        elif command.options:  # every default is the job key's (see the description), none the option's own
            lines += ["| Argument / option | Description |", "|---|---|"]
            lines += [f"| {_code(o.usage)}{{ #{cli_anchor(command.name, o.name)} }} | {_cell(o.description)} |"
                      for o in command.options]
            lines.append("")
    return "\n".join(lines)


# -- checks ------------------------------------------------------------------------------------------


def undocumented(model: type[BaseModel] | None = None, app: Any = None,
                 package: types.ModuleType | None = None) -> Iterator[str]:
    """Every job key and section, CLI command and option, and public function or class (``__all__``) of
    ``rtseg`` without a description, by name: what ``tests/test_docs.py`` lists when it fails. The
    arguments replace the job model, the Typer app and the package (for the tests' own)."""
    if package is None:
        import rtseg

        package = rtseg
    for section in job_sections(model):
        if section.name and not section.description:
            yield f"job section [{section.name}]"
        for key in section.keys:
            if not key.description:
                yield f"job key {key.name}"
    for command in cli_commands(app):
        if not command.description:
            yield f"command rtseg {command.name}".rstrip()
        for option in command.options:
            if not option.description:
                yield f"rtseg {command.name} {option.usage}".replace("  ", " ")
    for name in getattr(package, "__all__", []):
        obj = getattr(package, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj):
            yield f"{package.__name__}.{name}"


# -- the MkDocs hook ---------------------------------------------------------------------------------


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Fill the reference pages' markers; a reference page without its marker fails the build."""
    from mkdocs.exceptions import PluginError

    src = page.file.src_uri
    if src in PAGES and PAGES[src] not in markdown:
        raise PluginError(f"{src} must contain {PAGES[src]} (where the generated reference goes)")
    if JOB_KEYS_MARKER in markdown:
        markdown = markdown.replace(JOB_KEYS_MARKER, job_keys_markdown())
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_markdown())
    return markdown
