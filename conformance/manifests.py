"""Render the Kubernetes objects snapconf creates from Jinja2 templates in ``manifests/``.

Objects are templates, not Python dicts, so a driver team can change what snapconf
creates (an extra annotation, a pod toleration, a node selector) without forking the
harness: ``--manifests DIR`` puts a folder of ``<kind>.yaml.j2`` files in front of the
built-in ones, file by file. Everything a template names is required (``StrictUndefined``)
so a typo or a stale override fails loudly with the file and the variable, never as an
object with a silently empty field. Values go into templates through the ``tojson``
filter, whose output is valid YAML whatever the string holds (colons, quotes, newlines).

Blocks are trimmed (``trim_blocks`` and ``lstrip_blocks``): a ``{% if %}`` on its own
line leaves no blank line or stray indentation behind. Jinja's ``namespace()`` global is
removed, since ``namespace`` is a template variable here.

This module renders and checks shape only; it does not label, create or track objects
(that is :mod:`conformance.resources`) and it never talks to a cluster.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2 import meta

from conformance.paths import data_dir

SUFFIX = ".yaml.j2"
#: libyaml's loader when PyYAML has it: same safe schema, ~5x faster than the pure-Python
#: one, which took most of a render (every pod, PVC and snapshot of every test is one).
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# json.dumps(ensure_ascii=False) leaves all but control characters raw. Inside a YAML
# quoted scalar some of them are refused (C1 controls, surrogates, U+FFFE/FFFF) or read
# as a line break and folded (U+0085, U+2028, U+2029); these are escaped as \uXXXX.
_YAML_UNSAFE = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


class RenderError(Exception):
    """A template could not be found, rendered or parsed into one Kubernetes object."""


def to_json(value: Any) -> str:
    """Dump ``value`` as one line of JSON that YAML reads back unchanged.

    JSON is YAML, so ``name: {{ x | tojson }}`` is safe for any string, list or mapping.
    Unlike Jinja's own ``tojson`` nothing is HTML-escaped, and characters YAML does not
    accept raw are escaped.
    """
    if isinstance(value, jinja2.Undefined):
        str(value)  # a StrictUndefined raises UndefinedError naming the variable
    try:
        dumped = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise jinja2.TemplateRuntimeError(f"tojson: {exc}") from exc
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


class Renderer:
    """Renders ``<kind>.yaml.j2`` into a dict, from the override folder first, then the default.

    Args:
        override_dir: A folder of templates that replace the built-in ones of the same name;
            templates it does not hold still come from the built-in ``manifests/``.
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        self.default_dir = data_dir("manifests")
        self.override_dir = override_dir
        if override_dir is not None and not override_dir.is_dir():
            raise RenderError(f"manifest override folder {override_dir} is not a directory")
        self.search_path = [d for d in (override_dir, self.default_dir) if d is not None]
        self._loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(d) for d in self.search_path])
        self._env = jinja2.Environment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 - renders YAML, never HTML
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["tojson"] = to_json
        # Jinja's namespace() helper would shadow the Kubernetes namespace variable: an
        # unpassed namespace would render as a class and escape the required-variable check.
        del self._env.globals["namespace"]
        self._variables: dict[str, frozenset[str]] = {}

    # ------------------------------------------------------------ lookups

    def template_names(self) -> list[str]:
        """The ``*.yaml.j2`` file names available, from both folders, sorted."""
        return sorted(n for n in self._env.list_templates() if n.endswith(SUFFIX))

    def source_of(self, kind: str) -> Path:
        """The file that renders ``kind`` (``"pod"`` or ``"pod.yaml.j2"``)."""
        name = _template_name(kind)
        for folder in self.search_path:
            path = folder / name
            if path.is_file():
                return path
        raise RenderError(self._not_found(name))

    def variables(self, kind: str) -> frozenset[str]:
        """The variables the template for ``kind`` names, all of which are required."""
        name = _template_name(kind)
        if name not in self._variables:
            try:
                source, _, _ = self._loader.get_source(self._env, name)
                ast = self._env.parse(source, name=name)
                found = frozenset(meta.find_undeclared_variables(ast))
            except jinja2.TemplateNotFound as exc:
                raise RenderError(self._not_found(name)) from exc
            except jinja2.TemplateSyntaxError as exc:
                raise RenderError(f"{self._where(name)}:{exc.lineno}: {exc.message}") from exc
            except jinja2.TemplateError as exc:  # e.g. an unknown filter, found while parsing
                line = getattr(exc, "lineno", None)
                where = f"{self._where(name)}:{line}" if line else self._where(name)
                raise RenderError(f"{where}: {exc.message or exc}") from exc
            self._variables[name] = found
        return self._variables[name]

    # ------------------------------------------------------------ rendering

    def render(self, kind: str, **ctx: Any) -> dict[str, Any]:
        """Render the template for ``kind`` with ``ctx`` and return the object it describes."""
        name = _template_name(kind)
        missing = sorted(self.variables(kind) - ctx.keys())
        if missing:
            quoted = ", ".join(f"'{m}'" for m in missing)
            verb = "is" if len(missing) == 1 else "are"
            raise RenderError(f"{self._where(name)}: {quoted} {verb} undefined")
        try:
            text = self._env.get_template(name).render(**ctx)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(self._not_found(name)) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{self._where(name)}:{exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"{self._where(name)}: {exc}") from exc
        try:
            obj = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise RenderError(f"{self._where(name)}: rendered text is not YAML: {exc}") from exc
        return self._checked(name, obj)

    def _checked(self, name: str, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            got = type(obj).__name__
            raise RenderError(f"{self._where(name)}: renders a {got}, not one object mapping")
        missing = [key for key in ("apiVersion", "kind") if not obj.get(key)]
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or not metadata.get("name"):
            missing.append("metadata.name")
        if missing:
            raise RenderError(f"{self._where(name)}: the object has no {', '.join(missing)}")
        return obj

    # ------------------------------------------------------------ messages

    def _where(self, name: str) -> str:
        """The template name, plus the override folder when the file comes from there."""
        if self.override_dir is not None and (self.override_dir / name).is_file():
            return f"{name} (from override folder {self.override_dir})"
        return name

    def _not_found(self, name: str) -> str:
        searched = ", ".join(str(d) for d in self.search_path)
        return f"no template {name} in {searched}"


def _template_name(kind: str) -> str:
    return kind if kind.endswith(SUFFIX) else f"{kind}{SUFFIX}"
