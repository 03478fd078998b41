"""The results model of a run and its JSON file, ``results.json`` (schema version 1).

``results.json`` is the one record of a run that everything after it reads: the verdict,
the HTML report, ``snapconf report`` and baseline comparisons. Vendors publish it, so this
module also owns redaction: a profile or object dump never carries a secret value.
It is the single source of truth for the schema: every key of the file is written by a
``to_dict`` and read back by the matching ``from_dict`` here, and nowhere else.
Loading never shows a traceback to the user: every problem with the file becomes a
``ResultsError`` with a one-sentence message naming the file and the field.
This module must not call the cluster or know about pytest.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final, TypeAlias, TypeVar, cast

import yaml

SCHEMA_VERSION: Final = 1
OUTCOMES: Final = ("passed", "failed", "skipped", "error")
REDACTED: Final = "<redacted>"
#: The file name of the results in a run folder.
RESULTS_FILE: Final = "results.json"

_T = TypeVar("_T")


class ResultsError(Exception):
    """results.json is missing, unreadable, not JSON, of another schema or incomplete."""


# ---------------------------------------------------------------- model


@dataclass
class Timing:
    """How long one cluster operation took (``op`` like ``snapshot-ready``).

    ``start`` is when the wait began (epoch seconds), so operations that overlapped (parallel
    restores) can be told apart from ones in a row; results written before it existed have
    none (None), and the JSON form leaves the key out then, so old files read back unchanged.
    """

    op: str
    seconds: float
    subject: str = ""
    start: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        data: dict[str, Any] = {"op": self.op, "seconds": self.seconds, "subject": self.subject}
        if self.start is not None:
            data["start"] = self.start
        return data

    @classmethod
    def from_dict(cls, data: object, where: str = "timing") -> Timing:
        """Parse the JSON form (``where`` names it in errors).

        Raises:
            ResultsError: a field is missing or of the wrong type.
        """
        d = _object(data, where)
        return cls(
            op=_str(d, "op", where),
            seconds=_number(d, "seconds", where),
            subject=_str(d, "subject", where, default=""),
            start=_opt_number(d, "start", where),
        )


@dataclass
class ObjectDump:
    """The YAML of one object a failed test had created, as it was at the failure."""

    kind: str
    namespace: str | None
    name: str
    yaml: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        text = self.yaml
        if self.kind == "Secret":
            text = _redact_yaml(text)
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name, "yaml": text}

    @classmethod
    def from_dict(cls, data: object, where: str = "object") -> ObjectDump:
        """Parse the JSON form (``where`` names it in errors).

        Raises:
            ResultsError: a field is missing or of the wrong type.
        """
        d = _object(data, where)
        return cls(
            kind=_str(d, "kind", where),
            namespace=_opt_str(d, "namespace", where),
            name=_str(d, "name", where),
            yaml=_str(d, "yaml", where),
        )


@dataclass
class EventRecord:
    """One Kubernetes event about an object of a failed test."""

    involved: str  # JSON "object": the event's involved object, "Kind/namespace/name"
    type: str
    reason: str
    message: str
    time: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "object": self.involved,
            "type": self.type,
            "reason": self.reason,
            "message": self.message,
            "time": self.time,
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "event") -> EventRecord:
        """Parse the JSON form (``where`` names it in errors).

        Raises:
            ResultsError: a field is missing or of the wrong type.
        """
        d = _object(data, where)
        return cls(
            involved=_str(d, "object", where),
            type=_str(d, "type", where),
            reason=_str(d, "reason", where),
            message=_str(d, "message", where),
            time=_str(d, "time", where),
        )


@dataclass
class LogRecord:
    """The (tail of the) log of one container of a failed test's pod."""

    pod: str
    container: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"pod": self.pod, "container": self.container, "text": self.text}

    @classmethod
    def from_dict(cls, data: object, where: str = "log") -> LogRecord:
        """Parse the JSON form (``where`` names it in errors).

        Raises:
            ResultsError: a field is missing or of the wrong type.
        """
        d = _object(data, where)
        return cls(
            pod=_str(d, "pod", where),
            container=_str(d, "container", where),
            text=_str(d, "text", where),
        )


@dataclass
class Diagnostics:
    """What a failed or errored test carries: the failure and the cluster state behind it."""

    message: str
    traceback: str = ""
    objects: list[ObjectDump] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "message": self.message,
            "traceback": self.traceback,
            "objects": [o.to_dict() for o in self.objects],
            "events": [e.to_dict() for e in self.events],
            "logs": [log.to_dict() for log in self.logs],
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "diagnostics") -> Diagnostics:
        """Parse the JSON form (``where`` names it in errors).

        Raises:
            ResultsError: a field is missing or of the wrong type.
        """
        d = _object(data, where)
        return cls(
            message=_str(d, "message", where),
            traceback=_str(d, "traceback", where, default=""),
            objects=_items(d, "objects", where, ObjectDump.from_dict, optional=True),
            events=_items(d, "events", where, EventRecord.from_dict, optional=True),
            logs=_items(d, "logs", where, LogRecord.from_dict, optional=True),
        )


@dataclass
class TestRecord:
    """One test of the run, its three phases folded into one outcome.

    ``required`` is true when the profile declares every capability in ``requires``:
    only required tests count for the verdict.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    nodeid: str
    name: str
    area: str
    requires: list[str]
    required: bool
    outcome: str
    skip_reason: str | None = None
    duration: float = 0.0
    worker: str = "main"
    timings: list[Timing] = field(default_factory=list)
    diagnostics: Diagnostics | None = None
    notes: list[str] = field(default_factory=list)
    """What cleanup did that a reader should know (another component's stall it undid)."""
    description: str = ""
    """The behaviour the test proves (its docstring's first paragraph)."""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ResultsError(
                f"outcome of {self.nodeid} must be one of {', '.join(OUTCOMES)}, "
                f"not {self.outcome!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return (
            {
                "nodeid": self.nodeid,
                "name": self.name,
                "area": self.area,
                "requires": list(self.requires),
                "required": self.required,
                "outcome": self.outcome,
                "skipReason": self.skip_reason,
                "duration": self.duration,
                "worker": self.worker,
                "timings": [t.to_dict() for t in self.timings],
                "diagnostics": self.diagnostics.to_dict() if self.diagnostics else None,
            }
            | ({"notes": list(self.notes)} if self.notes else {})
            | ({"description": self.description} if self.description else {})
        )

    @classmethod
    def from_dict(cls, data: object, where: str = "test") -> TestRecord:
        """Parse the JSON form (``where`` names it in errors).

        Raises:
            ResultsError: a field is missing or of the wrong type.
        """
        d = _object(data, where)
        outcome = _str(d, "outcome", where)
        if outcome not in OUTCOMES:
            raise ResultsError(
                f"{_at(where, 'outcome')} must be one of {', '.join(OUTCOMES)}, not {outcome!r}"
            )
        raw_diag = _field(d, "diagnostics", where, default=None)
        return cls(
            nodeid=_str(d, "nodeid", where),
            name=_str(d, "name", where),
            area=_str(d, "area", where),
            requires=_str_list(d, "requires", where),
            required=_bool(d, "required", where),
            outcome=outcome,
            skip_reason=_opt_str(d, "skipReason", where),
            duration=_number(d, "duration", where),
            worker=_str(d, "worker", where),
            timings=_items(d, "timings", where, Timing.from_dict),
            notes=_str_list(d, "notes", where) if "notes" in d else [],
            description=_opt_str(d, "description", where) or "",
            diagnostics=(
                None
                if raw_diag is None
                else Diagnostics.from_dict(raw_diag, _at(where, "diagnostics"))
            ),
        )


@dataclass
class RunInfo:
    """Who ran what where: run id, times, command line, redacted profile, cluster summary.

    ``cluster`` holds ``kubernetesVersion`` (str), ``csiDriver`` (a summary of the CSIDriver
    object: name and spec fields) and ``components`` (a list of ``{name, version, image,
    binary}``, any of the last three may be absent); a run's ``leaks`` (strings: API
    objects, and on the testbed ``backend volume|snapshot ...`` lines) and ``backend`` (a
    sentence: what the driver's own listing showed, or why it could not be seen). Other
    keys are kept as they are.
    """

    id: str
    start: str
    end: str
    argv: list[str] = field(default_factory=list)
    workers: int = 1
    profile: dict[str, Any] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    snapconf_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id,
            "start": self.start,
            "end": self.end,
            "argv": redact_argv(self.argv),
            "workers": self.workers,
            "profile": redact(self.profile),
            "cluster": redact(self.cluster),
            "snapconfVersion": self.snapconf_version,
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "run") -> RunInfo:
        """Parse the JSON form (``where`` names it in errors).

        Raises:
            ResultsError: a field is missing or of the wrong type.
        """
        d = _object(data, where)
        cluster = _dict(d, "cluster", where)
        components = cluster.get("components", [])
        if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
            raise ResultsError(f"{_at(where, 'cluster')}.components must be a list of objects")
        return cls(
            id=_str(d, "id", where),
            start=_timestamp(d, "start", where),
            end=_timestamp(d, "end", where),
            argv=_str_list(d, "argv", where),
            workers=_int(d, "workers", where),
            profile=redact(_dict(d, "profile", where)),
            cluster=cluster,
            snapconf_version=_str(d, "snapconfVersion", where),
        )

    @property
    def kubernetes_version(self) -> str:
        """The server's version (``v1.33.1``), or ``""`` when not recorded.

        ``serverVersion`` (the issue's name, as a string or the ``/version`` object) is read
        too, so a writer using either name gets its version shown.
        """
        for key in ("kubernetesVersion", "serverVersion"):
            value = self.cluster.get(key)
            if isinstance(value, dict):
                value = value.get("gitVersion")
            if isinstance(value, str) and value:
                return value
        return ""


#: What the functions taking a run accept: the model, its JSON form, or a results.json path.
ResultsLike: TypeAlias = "RunResults | Mapping[str, Any] | str | os.PathLike[str]"


@dataclass
class RunResults:
    """A whole run: its info, its tests, the declared capabilities, baseline regressions.

    ``baseline_regressions`` lists the tests that passed in the baseline given to the run
    and do not pass now; it is stored so a rebuilt report shows the same verdict.
    """

    run: RunInfo
    tests: list[TestRecord] = field(default_factory=list)
    capabilities: dict[str, bool] = field(default_factory=dict)
    baseline_regressions: list[str] = field(default_factory=list)

    @classmethod
    def coerce(cls, value: ResultsLike) -> RunResults:
        """The model of ``value``: returned as is, parsed from its JSON form, or loaded.

        Raises:
            ResultsError: the JSON form or the file is not valid results.
        """
        if isinstance(value, RunResults):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(dict(value))
        return cls.load(value)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunResults:
        """Read and check a results.json.

        Raises:
            ResultsError: one sentence naming the file and what is wrong with it.
        """
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError as err:
            raise ResultsError(f"{source}: no such results file") from err
        except IsADirectoryError as err:
            raise ResultsError(f"{source}: is a directory, not a results file") from err
        except UnicodeDecodeError as err:
            raise ResultsError(f"{source}: not a results file (not UTF-8 text)") from err
        except OSError as err:
            raise ResultsError(f"{source}: cannot read results ({err.strerror or err})") from err
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ResultsError(
                f"{source}: not a results file, not valid JSON "
                f"(line {err.lineno}, column {err.colno}: {err.msg})"
            ) from err
        try:
            return cls.from_dict(data)
        except ResultsError as err:
            raise ResultsError(f"{source}: {err}") from err

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON form to ``path`` (atomically: a reader never sees half a file).

        Raises:
            ResultsError: the file cannot be written.
        """
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        return write_atomic(Path(path), text, "results")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "schemaVersion": SCHEMA_VERSION,
            "run": self.run.to_dict(),
            "capabilities": dict(self.capabilities),
            "baselineRegressions": list(self.baseline_regressions),
            "tests": [t.to_dict() for t in self.tests],
        }

    @classmethod
    def from_dict(cls, data: object) -> RunResults:
        """Parse the JSON form, checking the schema version first.

        Raises:
            ResultsError: not results of this schema, or a field is missing or of the wrong
                type.
        """
        if not isinstance(data, dict):
            raise ResultsError(
                f"not a snapconf results file (the top level is {_json_type(data)}, not an object)"
            )
        d = cast(dict[str, Any], data)
        if "schemaVersion" not in d:
            raise ResultsError("not a snapconf results file (schemaVersion is missing)")
        version = d["schemaVersion"]
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise ResultsError(
                f"schema version {version!r} is not supported "
                f"(this snapconf reads version {SCHEMA_VERSION})"
            )
        capabilities = _dict(d, "capabilities", "")
        for name, value in capabilities.items():
            if not isinstance(value, bool):
                raise ResultsError(f"capabilities.{name} must be true or false")
        tests = _items(d, "tests", "", TestRecord.from_dict)
        first: dict[str, int] = {}
        for i, test in enumerate(tests):
            if first.setdefault(test.nodeid, i) != i:
                raise ResultsError(
                    f"tests[{i}].nodeid repeats tests[{first[test.nodeid]}]: {test.nodeid!r}"
                )
        return cls(
            run=RunInfo.from_dict(_field(d, "run", "")),
            tests=tests,
            capabilities=cast(dict[str, bool], capabilities),
            baseline_regressions=_str_list(d, "baselineRegressions", ""),
        )


# ---------------------------------------------------------------- file


def write_results(results: ResultsLike, path: str | os.PathLike[str]) -> Path:
    """Check ``results`` (a dict is parsed, so a bad record fails here) and write it to ``path``.

    Raises:
        ResultsError: the results are not valid or the file cannot be written.
    """
    return RunResults.coerce(results).save(path)


def load_results(path: str | os.PathLike[str]) -> RunResults:
    """Read and check a results.json (see ``RunResults.load``).

    Raises:
        ResultsError: one sentence naming the file and what is wrong with it.
    """
    return RunResults.load(path)


def write_atomic(target: Path, text: str, what: str) -> Path:
    """Write ``text`` through a temporary file and a rename, so readers never see half of it.

    Raises:
        ResultsError: the file cannot be written (``what`` names it in the message).
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
        try:
            # mkstemp makes the file private; a report is meant to be read (and published).
            os.chmod(tmp, 0o666 & ~_umask())
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise ResultsError(f"{target}: cannot write the {what} ({err.strerror or err})") from err
    return target


def _umask() -> int:
    """The process umask (read by setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- redaction

# Keys whose value is a secret, after lowercasing and dropping everything but [a-z0-9].
_SECRET_PARTS: Final = (
    "password",
    "passwd",
    "passphrase",
    "token",
    "secret",
    "credential",
    "authorization",
    "apikey",
    "accesskey",
    "privatekey",
    "keydata",
)
# ... unless they only name or point at a secret: csi.storage.k8s.io/*-secret-name etc.
_REFERENCE_SUFFIXES: Final = ("secretname", "secretnamespace", "secretref")
_DATA_KEYS: Final = ("data", "stringdata", "binarydata")
_ARGV_SECRET = re.compile(r"^--?[\w.-]*(password|passwd|token|secret|credential|apikey|key)\b")


def _normal(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _is_secret_key(key: str, siblings: Mapping[Any, Any]) -> bool:
    norm = _normal(key)
    if norm.endswith(_REFERENCE_SUFFIXES):
        return False
    if any(part in norm for part in _SECRET_PARTS):
        return True
    if norm == "key":
        # {key, operator, values} is a label selector or toleration, not a key.
        return "operator" not in siblings and "values" not in siblings
    return norm.endswith("key")


def redact(obj: _T) -> _T:
    """A copy of ``obj`` with every secret-looking value replaced by ``"<redacted>"``.

    Keys that name a secret (``csi.storage.k8s.io/provisioner-secret-name``,
    ``secretName``, ``nodeStageSecretRef``) keep their value; values of ``data`` and
    ``stringData`` (each entry) and of token/password/key-like keys are replaced.
    """
    return cast(_T, _redact(obj))


def _redact(obj: object) -> object:
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            name = str(key)
            if _normal(name) in _DATA_KEYS and isinstance(value, Mapping):
                out[key] = {k: REDACTED for k in value}
            elif _normal(name) in _DATA_KEYS and value is not None:
                out[key] = REDACTED
            elif _is_secret_key(name, obj) and not isinstance(value, (Mapping, list)):
                out[key] = value if value in (None, "") else REDACTED
            elif _is_secret_key(name, obj):
                out[key] = REDACTED
            else:
                out[key] = _redact(value)
        return out
    if isinstance(obj, list | tuple):
        return [_redact(item) for item in obj]
    return obj


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line with values of ``--token=...``-like options replaced."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        match = _ARGV_SECRET.match(arg.lower())
        if match and "=" in arg:
            out.append(arg.split("=", 1)[0] + "=" + REDACTED)
        elif match and arg.lower() == match.group(0):
            out.append(arg)
            hide_next = True
        else:
            out.append(arg)
    return out


def _redact_yaml(text: str) -> str:
    """Redact a YAML dump (a Secret's): unparseable text is withheld entirely."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return f"# {REDACTED}: unparseable Secret YAML\n"
    return yaml.safe_dump(redact(data), sort_keys=False)


# ---------------------------------------------------------------- field checks


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _object(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        what = where or "the top level"
        raise ResultsError(f"{what} must be a JSON object, not {_json_type(data)}")
    return cast(dict[str, Any], data)


_MISSING: Final[Any] = object()


def _field(d: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> Any:
    """The value of ``key``; without a ``default`` the key is required."""
    if key in d:
        return d[key]
    if default is _MISSING:
        raise ResultsError(f"{_at(where, key)} is missing")
    return default


def _str(d: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> str:
    value = _field(d, key, where, default)
    if not isinstance(value, str):
        raise ResultsError(f"{_at(where, key)} must be a string, not {_json_type(value)}")
    return value


def _opt_str(d: Mapping[str, Any], key: str, where: str) -> str | None:
    """An optional string: absent and null both read as None."""
    value = _field(d, key, where, default=None)
    if value is not None and not isinstance(value, str):
        raise ResultsError(f"{_at(where, key)} must be a string or null, not {_json_type(value)}")
    return value


def _bool(d: Mapping[str, Any], key: str, where: str) -> bool:
    value = _field(d, key, where)
    if not isinstance(value, bool):
        raise ResultsError(f"{_at(where, key)} must be true or false, not {_json_type(value)}")
    return value


def _number(d: Mapping[str, Any], key: str, where: str) -> float:
    value = _field(d, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResultsError(f"{_at(where, key)} must be a number, not {_json_type(value)}")
    return float(value)


def _opt_number(d: Mapping[str, Any], key: str, where: str) -> float | None:
    """An optional number: absent and null both read as None."""
    if d.get(key) is None:
        return None
    return _number(d, key, where)


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    value = _field(d, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResultsError(f"{_at(where, key)} must be an integer, not {_json_type(value)}")
    return value


def _dict(d: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    return _object(_field(d, key, where), f"{_at(where, key)}")


def _list(d: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> list[Any]:
    value = _field(d, key, where, default)
    if not isinstance(value, list):
        raise ResultsError(f"{_at(where, key)} must be a list, not {_json_type(value)}")
    return value


def _str_list(d: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = _list(d, key, where)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ResultsError(f"{_at(where, key)}[{i}] must be a string, not {_json_type(item)}")
    return cast(list[str], value)


def _items(
    d: Mapping[str, Any],
    key: str,
    where: str,
    parse: Callable[[object, str], _T],
    *,
    optional: bool = False,
) -> list[_T]:
    items = _list(d, key, where, [] if optional else _MISSING)
    return [parse(item, f"{_at(where, key)}[{i}]") for i, item in enumerate(items)]


def _timestamp(d: Mapping[str, Any], key: str, where: str) -> str:
    value = _str(d, key, where)
    try:
        datetime.fromisoformat(value)
    except ValueError as err:
        raise ResultsError(f"{_at(where, key)} is not an ISO 8601 time: {value!r}") from err
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
