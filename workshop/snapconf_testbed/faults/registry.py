"""Faults by name: the ``@fault`` decorator, registries and the user fault-module loader.

A fault is registered once under a kebab-case name, with the CSI methods it touches (or
every unary method) and a docstring that says which real driver bug it imitates; the
docstring is required, because it is what ``snapconf testbed fault list`` shows. Built-in
faults land in :data:`BUILTIN`. A user's file loads into a child :class:`Registry`, so its
faults sit next to the built-in ones without changing them and a name clash is an error.

This module must not import the built-in faults nor anything that serves gRPC.
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib.util
import inspect
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from snapconf_testbed.faults.call import FaultFn
from snapconf_testbed.faults.errors import FaultError

T = TypeVar("T")

_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
RESERVED = frozenset({"none", "all"})


class FaultModuleError(FaultError, RuntimeError):
    """A user fault module could not be loaded or registers something invalid."""


@dataclass(frozen=True)
class FaultSpec:
    """A registered fault.

    Attributes:
        name: the fault's name (``never-ready``).
        factory: makes one active instance; called each time the fault is switched on.
        methods: bare CSI method names it touches; None for every unary method.
        doc: the docstring.
        origin: where it was defined (module name or file path).
    """

    name: str
    factory: Callable[[], FaultFn]
    methods: frozenset[str] | None
    doc: str
    origin: str

    @property
    def summary(self) -> str:
        """The docstring's first line."""
        return self.doc.strip().splitlines()[0].strip()

    def touches(self, method: str) -> bool:
        return self.methods is None or method in self.methods


class Registry:
    """Faults by name; a child registry also sees its parent's faults."""

    def __init__(self, parent: Registry | None = None) -> None:
        self._parent = parent
        self._own: dict[str, FaultSpec] = {}

    def add(self, spec: FaultSpec) -> None:
        if not _NAME.match(spec.name) or spec.name in RESERVED:
            raise ValueError(f"invalid fault name {spec.name!r}: use kebab-case, not none/all")
        if spec.name in self:
            taken = self[spec.name].origin
            raise ValueError(f"fault {spec.name!r} is already registered (by {taken})")
        self._own[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._own or (self._parent is not None and name in self._parent)

    def __getitem__(self, name: str) -> FaultSpec:
        if name in self._own:
            return self._own[name]
        if self._parent is not None:
            return self._parent[name]
        raise KeyError(name)

    def __iter__(self) -> Iterator[FaultSpec]:
        if self._parent is not None:
            yield from self._parent
        yield from self._own.values()

    def names(self) -> tuple[str, ...]:
        """Every name, parents' first, in registration order."""
        return tuple(spec.name for spec in self)

    def load_module(self, path: Path) -> tuple[str, ...]:
        """Run a user's Python file; faults it registers with ``@fault`` land here.

        Returns:
            The names the file registered.

        Raises:
            FaultModuleError: the file is missing, fails to import, or registers a bad fault.
        """
        path = Path(path).resolve()
        if not path.is_file():
            raise FaultModuleError(f"fault module {path} does not exist")
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
        name = f"snapconf_user_faults_{digest}_{next(_LOAD_COUNT)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise FaultModuleError(f"cannot import {path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        before = set(self._own)
        sys.modules[name] = module  # dataclasses and pickling look modules up here
        token = _TARGET.set((self, str(path)))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            for added in set(self._own) - before:
                del self._own[added]
            if isinstance(exc, FaultModuleError):
                raise
            raise FaultModuleError(f"loading fault module {path} failed: {exc!r}") from exc
        finally:
            _TARGET.reset(token)
        return tuple(n for n in self._own if n not in before)


_LOAD_COUNT = itertools.count()

BUILTIN = Registry()
"""The faults that ship with snapconf (filled by ``snapconf_testbed.faults.builtin``)."""

# While a user module loads, @fault registers into that module's registry.
_TARGET: contextvars.ContextVar[tuple[Registry, str] | None] = contextvars.ContextVar(
    "snapconf_fault_target", default=None
)


def fault(name: str, *, methods: Iterable[str] | None = None) -> Callable[[T], T]:
    """Register a fault under ``name``.

    Decorate either a function ``(call: Call) -> Reply`` (stateless; the same function
    serves every activation) or a class whose instances are such callables and whose
    constructor takes no arguments (a fresh instance each time the fault is switched on,
    so per-activation state such as call counters starts anew).

    Args:
        name: kebab-case name, unique among all faults.
        methods: bare CSI method names the fault touches (``["CreateVolume"]``); omit it
            for a fault that applies to every unary method.

    Raises:
        ValueError: the name is taken or invalid, the object has no docstring, or it is
            neither a function nor a class.
    """
    touched = None if methods is None else frozenset(methods)
    if touched is not None and not touched:
        raise ValueError(f"fault {name!r}: methods is empty; omit it to touch every method")

    def register(obj: T) -> T:
        doc = inspect.getdoc(obj)
        if not doc or not doc.strip():
            raise ValueError(f"fault {name!r} needs a docstring naming the driver bug it imitates")
        factory: Callable[[], FaultFn]
        if inspect.isclass(obj):
            if not any("__call__" in vars(klass) for klass in obj.__mro__):
                raise ValueError(f"fault {name!r}: class {obj.__name__} defines no __call__")
            factory = cast(Callable[[], FaultFn], obj)
        elif callable(obj):
            fn = cast(FaultFn, obj)

            def factory() -> FaultFn:
                return fn
        else:
            raise ValueError(f"fault {name!r}: {obj!r} is neither a function nor a class")
        target = _TARGET.get()
        registry, origin = target if target is not None else (BUILTIN, _origin(obj))
        spec = FaultSpec(name=name, factory=factory, methods=touched, doc=doc, origin=origin)
        try:
            registry.add(spec)
        except ValueError as exc:
            if target is not None:
                raise FaultModuleError(f"{origin}: {exc}") from exc
            raise
        return obj

    return register


def _origin(obj: Any) -> str:
    return str(getattr(obj, "__module__", "?"))


def registry_with(fault_modules: Iterable[Path] = ()) -> Registry:
    """The built-in faults plus those of the given user modules."""
    registry = Registry(parent=BUILTIN)
    for path in fault_modules:
        registry.load_module(path)
    return registry
