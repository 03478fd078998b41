"""The package boundaries of issue 17: the core, the testbed extra, the benchmarks.

The core (``conformance``) names the extra (``snapconf_testbed``) only in its one seam,
``testbed_hook``, and in the ``conformance.faults`` alias for fault modules; it loads no
gRPC, protobuf or aiohttp for ``snapconf --help`` or the plugin; without the extra, what
needs the testbed says in one sentence to install it. In the extra, the faults never
import the testbed (the cycle that was). The benchmarks (``tools/bench``) stay out of both.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from offline import forbid_cluster

from conformance import testbed_hook
from conformance.cli import main

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "conformance"
EXTRA = REPO / "workshop" / "snapconf_testbed"
BENCH = REPO / "tools" / "bench"
SEAMS = {CORE / "testbed_hook.py", CORE / "faults.py"}
HEAVY = ("grpc", "google.protobuf", "aiohttp", "snapconf_testbed")


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def under(names: set[str], package: str) -> list[str]:
    return sorted(n for n in names if n == package or n.startswith(f"{package}."))


@pytest.mark.parametrize(
    "path", sorted(set(CORE.rglob("*.py")) - SEAMS), ids=lambda p: str(p.relative_to(REPO))
)
def test_the_core_never_imports_the_extra_or_the_benchmarks(path: Path) -> None:
    names = imported(path)
    assert not under(names, "snapconf_testbed"), "reach the testbed through testbed_hook"
    assert not under(names, "bench")


@pytest.mark.parametrize("path", sorted(EXTRA.rglob("*.py")), ids=lambda p: p.name)
def test_the_extra_never_imports_the_benchmarks(path: Path) -> None:
    assert not under(imported(path), "bench")


@pytest.mark.parametrize("path", sorted((EXTRA / "faults").rglob("*.py")), ids=lambda p: p.name)
def test_the_faults_never_import_the_testbed(path: Path) -> None:
    """``testbed.cluster`` imports the faults; the faults use ``build`` and ``layout``."""
    assert not under(imported(path), "snapconf_testbed.testbed")


def test_help_and_the_plugin_load_no_grpc_protobuf_aiohttp_or_the_extra() -> None:
    code = (
        "import sys\n"
        "from conformance.cli import main\n"
        "import conformance.plugin, conformance.runner\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print([m for m in sys.modules if m.startswith({HEAVY!r})])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_extra_is_what_the_core_asks_for() -> None:
    hook = testbed_hook.load()
    assert hook is not None, "the dev install has the extra (pip install -e ./workshop)"
    for name in ("serves", "up", "driver_listing", "configure_command", "components"):
        assert callable(getattr(hook, name))


def test_fault_modules_keep_their_import_path() -> None:
    import conformance.faults
    import snapconf_testbed.faults

    assert conformance.faults.fault is snapconf_testbed.faults.fault
    assert conformance.faults.Call is snapconf_testbed.faults.Call


# ---------------------------------------------------------------- without the extra


@pytest.fixture
def no_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    forbid_cluster(monkeypatch, tmp_path / "home")
    monkeypatch.setattr(testbed_hook, "load", lambda: None)


def one_sentence(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "pip install 'csi-snapshot-conformance[testbed]'" in err
    return err


@pytest.mark.usefixtures("no_extra")
@pytest.mark.parametrize(
    "argv", [["run"], ["testbed", "up"], ["testbed", "--help"], ["cleanup", "--all"]]
)
def test_what_needs_the_testbed_says_to_install_the_extra(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2
    assert one_sentence(capsys).startswith("snapconf: ")


@pytest.mark.usefixtures("no_extra")
def test_help_names_the_testbed_command_without_the_extra(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "testbed" in capsys.readouterr().out


def test_the_benchmarks_are_not_in_the_core_or_the_extra() -> None:
    assert not (CORE / "bench").exists()
    assert not (EXTRA / "bench").exists()
    assert (BENCH / "__init__.py").is_file()


# ---------------------------------------------------------------- the core's one-way chains

CHAINS = {
    "the core": ["kube", "waits", "resources", "actions", "plugin"],
    "conformance.kube": [
        "kube.kinds",
        "kube.errors",
        "kube.retry",
        "kube.transport",
        "kube.client",
    ],
    "conformance.profile": [
        "profile.model",
        "profile.validation",
        "profile.snapconf",
        "profile.e2e",
        "profile.load",
    ],
    "conformance.actions": [
        "actions.base",
        "actions.claims",
        "actions.pods",
        "actions.snapshots",
        "actions.groups",
    ],
}


def _files(dotted: str) -> list[Path]:
    """The source files of ``conformance.<dotted>``: a module, or a package's modules."""
    path = CORE.joinpath(*dotted.split("."))
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_each_chain_imports_one_way(chain: str) -> None:
    """A layer imports only the layers before it (``kube`` <- ``waits`` <- ... <- ``plugin``)."""
    layers = CHAINS[chain]
    for i, layer in enumerate(layers):
        files = _files(layer)
        assert files, f"{layer}: no such module"
        assert all(f.is_file() for f in files), f"{layer}: no such module"
        for path in files:
            names = imported(path)
            for later in layers[i + 1 :]:
                assert not under(names, f"conformance.{later}"), (
                    f"{path.relative_to(REPO)} imports conformance.{later}, a later layer"
                )


def test_the_typed_accessors_stand_on_kube_alone() -> None:
    """``objects`` reads dicts: it may import ``kube`` and ``units``, nothing that acts."""
    names = {n for n in imported(CORE / "objects.py") if n.startswith("conformance")}
    assert all(n.startswith(("conformance.kube", "conformance.units")) for n in names), names


# ---------------------------------------------------------------- imports at the top

#: The modules that may import inside functions: ``snapconf --help`` loads ``cli`` only,
#: and ``snapconf report`` loads ``runner`` without the kubernetes client.
LAZY = {CORE / "cli.py", CORE / "runner.py"}


def imports_inside_functions(path: Path) -> list[tuple[str, str]]:
    """Each import inside a function: ``file:line`` and the three lines above its block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for fn in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            first = node.lineno - 1
            while first > 0 and lines[first - 1].strip().startswith(("from ", "import ")):
                first -= 1  # a block of imports shares one comment
            comment = "\n".join(lines[max(first - 3, 0) : first])
            found.append((f"{path.relative_to(REPO)}:{node.lineno}", comment))
    return found


@pytest.mark.parametrize(
    "path", sorted(set(CORE.rglob("*.py")) - SEAMS), ids=lambda p: str(p.relative_to(REPO))
)
def test_the_core_imports_at_the_top_but_where_a_command_stays_fast(path: Path) -> None:
    """An import inside a function is in ``cli`` or ``runner``, under a comment saying why."""
    for where, comment in imports_inside_functions(path):
        assert path in LAZY, f"{where}: import at the top of the module"
        assert "not at the top" in comment, f"{where}: say why it is not at the top"


@pytest.mark.parametrize(
    "path",
    sorted([*EXTRA.rglob("*.py"), *BENCH.rglob("*.py")]),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_the_extra_and_the_benchmarks_say_why_an_import_is_not_at_the_top(path: Path) -> None:
    """An import inside a function keeps an entry point light, breaks a cycle or is patched."""
    for where, comment in imports_inside_functions(path):
        assert "not at the top" in comment, f"{where}: import at the top, or say why not"
