"""Validation of profile input: strict YAML and the checks of one value at one key path.

Why it exists: a typo must not silently turn a capability off or drop a timeout (as the e2e
framework's loader does), so every value is checked where it is read: unknown keys with a
"did you mean", wrong types, bad sizes and durations, names that are not DNS names, a key
repeated in one mapping. A failure is :class:`_Invalid` at a key path; the loader adds
the file's name and raises :class:`~conformance.profile.model.ProfileError`.

Must not: know either file format's layout (``snapconf``, ``e2e``), or touch the cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Final

import yaml

from conformance.profile.model import (
    ACCESS_MODES,
    BINDING_MODES,
    CAPABILITIES,
    DEFAULT_SIZE_BYTES,
    RECLAIM_POLICIES,
    PodSelector,
    Sizes,
    _did_you_mean,
)
from conformance.units import format_quantity, parse_duration, parse_quantity


class _Invalid(Exception):
    """Internal: a validation failure at ``path``; the loader adds the source."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> object:
    """Parse one YAML document; syntax errors become ``_Invalid`` with line and column."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = err.problem or err.context or "syntax error"
        raise _Invalid("", f"{where}invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise _Invalid("", f"invalid YAML: {err}") from None
    finally:
        loader.dispose()


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# A lowercase RFC 1123 subdomain: CSIDriver and class object names.
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# A lowercase RFC 1123 label: namespace names.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def _show(value: object) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _mapping(value: object, path: str) -> dict[str, object]:
    """``value`` as a mapping with string keys; ``None`` (an empty section) is ``{}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(path, f"expected a mapping, got {_show(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _Invalid(_join(path, str(key)), f"keys must be strings, got {_show(key)}")
    return dict(value)


def _check_keys(
    mapping: Mapping[str, object],
    allowed: Iterable[str],
    path: str,
    *,
    ignored: Iterable[str] = (),
) -> None:
    known = [*allowed, *ignored]
    for key in mapping:
        if key not in known:
            raise _Invalid(_join(path, key), "unknown key" + _did_you_mean(key, known))


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(path, f"expected a non-empty string, got {_show(value)}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(path, f"expected true or false, got {_show(value)}")
    return value


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(path, f"expected a whole number, got {_show(value)}")
    if value < 1:
        raise _Invalid(path, f"must be at least 1, got {value}")
    return value


def _choice(value: object, path: str, choices: Iterable[str]) -> str:
    options = list(choices)
    if not isinstance(value, str):
        raise _Invalid(path, f"expected one of {', '.join(options)}, got {_show(value)}")
    if value not in options:
        raise _Invalid(path, f"unknown value {value!r}" + _did_you_mean(value, options))
    return value


def _quantity(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(path, f"expected a quantity like 1Gi, got {_show(value)}")
    try:
        size = parse_quantity(value, key=path)
    except ValueError as err:
        raise _Invalid(path, str(err).removeprefix(f"{path}: ")) from None
    if size == 0:
        raise _Invalid(path, "must be more than 0")
    return size


def _duration(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(path, f"expected a duration like 5m or 30s, got {_show(value)}")
    try:
        seconds = parse_duration(value)
    except ValueError as err:
        raise _Invalid(path, str(err)) from None
    if seconds <= 0:
        raise _Invalid(path, "must be more than 0")
    return seconds


def _object_name(value: object, path: str) -> str:
    name = _string(value, path)
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise _Invalid(
            path,
            f"{name!r} is not a valid object name (lowercase letters, digits, '-' and '.')",
        )
    return name


def _driver_name(value: object, path: str) -> str:
    name = _string(value, path)
    if len(name) > 63 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise _Invalid(
            path,
            f"{name!r} is not a valid CSI driver name (a lowercase DNS name of at most "
            "63 characters, like hostpath.csi.k8s.io)",
        )
    return name


def _namespace(value: object, path: str) -> str:
    name = _string(value, path)
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise _Invalid(
            path,
            f"{name!r} is not a valid namespace name (a DNS label: at most 63 lowercase "
            "letters, digits and '-')",
        )
    return name


def _driver_pods(value: object, path: str) -> tuple[PodSelector, ...]:
    """``driverPods``: a list of ``{namespace, selector}``; absent or empty is none."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Invalid(
            path,
            'expected a list like [{namespace: csi, selector: "app=my-csi"}], '
            f"got {_show(value)}",
        )
    found: list[PodSelector] = []
    for i, item in enumerate(value):
        where = _join(path, i)
        entry = _mapping(item, where)
        _check_keys(entry, ("namespace", "selector"), where)
        for key in ("namespace", "selector"):
            if entry.get(key) is None:
                raise _Invalid(_join(where, key), "required")
        pods = PodSelector(
            namespace=_namespace(entry["namespace"], _join(where, "namespace")),
            selector=_string(entry["selector"], _join(where, "selector")).strip(),
        )
        if pods in found:
            raise _Invalid(where, f"{pods.namespace} {pods.selector!r} is listed twice")
        found.append(pods)
    return tuple(found)


def _capabilities(value: object, path: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for name, on in _mapping(value, path).items():
        where = _join(path, name)
        if name not in CAPABILITIES:
            raise _Invalid(where, "unknown capability" + _did_you_mean(name, CAPABILITIES))
        out[name] = _bool(on, where)
    return out


def _access_modes(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ("ReadWriteOnce",)
    if not isinstance(value, list) or not value:
        raise _Invalid(path, f"expected a non-empty list like [ReadWriteOnce], got {_show(value)}")
    modes: list[str] = []
    for i, item in enumerate(value):
        mode = _choice(item, _join(path, i), ACCESS_MODES)
        if mode in modes:
            raise _Invalid(_join(path, i), f"{mode} is listed twice")
        modes.append(mode)
    return tuple(modes)


def _parameters(value: object, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, item in _mapping(value, path).items():
        if not isinstance(item, str):
            raise _Invalid(
                _join(path, key),
                f"expected a string, got {_show(item)} (class parameters are strings: quote it)",
            )
        out[key] = item
    return out


def _string_list(value: object, path: str) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(path, f"expected a list of strings, got {_show(value)}")
    return [_string(item, _join(path, i)) for i, item in enumerate(value)]


_STORAGE_CLASS_FIELDS: Final = (
    "parameters",
    "reclaimPolicy",
    "volumeBindingMode",
    "allowVolumeExpansion",
    "mountOptions",
)
_SNAPSHOT_CLASS_FIELDS: Final = ("parameters",)


def _class_create(
    value: object, path: str, *, snapshot: bool, wffc: bool = False
) -> dict[str, Any]:
    """Validate the fields of a class to create; fills in WaitForFirstConsumer for wffc."""
    fields = _mapping(value, path)
    _check_keys(fields, _SNAPSHOT_CLASS_FIELDS if snapshot else _STORAGE_CLASS_FIELDS, path)
    out: dict[str, Any] = {}
    if fields.get("parameters") is not None:
        out["parameters"] = _parameters(fields["parameters"], _join(path, "parameters"))
    if fields.get("reclaimPolicy") is not None:
        out["reclaimPolicy"] = _choice(
            fields["reclaimPolicy"], _join(path, "reclaimPolicy"), RECLAIM_POLICIES
        )
    if fields.get("volumeBindingMode") is not None:
        where = _join(path, "volumeBindingMode")
        mode = _choice(fields["volumeBindingMode"], where, BINDING_MODES)
        if wffc and mode != "WaitForFirstConsumer":
            raise _Invalid(where, f"must be WaitForFirstConsumer here, got {mode}")
        out["volumeBindingMode"] = mode
    elif wffc:
        out["volumeBindingMode"] = "WaitForFirstConsumer"
    if fields.get("allowVolumeExpansion") is not None:
        out["allowVolumeExpansion"] = _bool(
            fields["allowVolumeExpansion"], _join(path, "allowVolumeExpansion")
        )
    if fields.get("mountOptions") is not None:
        out["mountOptions"] = _string_list(fields["mountOptions"], _join(path, "mountOptions"))
    return out


def _size_range(
    given: Mapping[str, object],
    paths: Mapping[str, str],
    *,
    default_min: int,
) -> Sizes:
    """Sizes from optional ``min``/``default``/``max``; ``paths`` names each key for messages.

    A missing ``min`` is ``default_min`` (never above ``default`` or ``max``); a missing
    ``default`` is 1Gi raised to ``min`` or lowered to ``max``.
    """
    parsed = {
        k: _quantity(given[k], paths[k])
        for k in ("min", "default", "max")
        if k in paths and given.get(k) is not None
    }
    max_b = parsed.get("max")
    if "min" in parsed:
        min_b = parsed["min"]
    else:
        min_b = min(default_min, parsed.get("default", default_min), max_b or default_min)
    if max_b is not None and min_b > max_b:
        raise _Invalid(
            paths["min"],
            f"{format_quantity(min_b)} is more than {paths['max']} {format_quantity(max_b)}",
        )
    if "default" in parsed:
        default_b = parsed["default"]
        if default_b < min_b:
            raise _Invalid(
                paths["min"],
                f"{format_quantity(min_b)} is more than {paths['default']} "
                f"{format_quantity(default_b)}",
            )
        if max_b is not None and default_b > max_b:
            raise _Invalid(
                paths["default"],
                f"{format_quantity(default_b)} is more than {paths['max']} "
                f"{format_quantity(max_b)}",
            )
    else:
        default_b = max(DEFAULT_SIZE_BYTES, min_b)
        if max_b is not None:
            default_b = min(default_b, max_b)
    return Sizes(min_bytes=min_b, default_bytes=default_b, max_bytes=max_b)
