"""conformance.report.html: the self-contained report, checked through its parsed structure.

Expected numbers are computed here from the raw JSON, independently of ``analysis``, so a
wrong count in the library cannot also hide in the test.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.report import (
    REPORT_FILE,
    RESULTS_FILE,
    ResultsError,
    RunResults,
    build_report,
    render_html,
    verdict,
    write_report,
)
from conformance.report.html import failure_anchor, format_seconds, nodeid_anchor

DATA = Path(__file__).parent / "data" / "report"
NAMES = ["all-passed", "failures", "xdist"]
OUTCOMES = ("passed", "failed", "error", "skipped")  # the matrix's column order
BADGES = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "\N{EN DASH}"}
VOID = {"meta", "br", "wbr", "hr", "img", "input", "link", "col", "source"}


# ---------------------------------------------------------------- a small DOM


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def words(self) -> str:
        """The text with whitespace runs folded, as a reader sees it."""
        return " ".join(self.text.split())

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def elements(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.elements()

    def all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.elements() if n.tag == tag and (cls is None or cls in n.classes)]

    def one(self, tag: str, cls: str | None = None) -> Node:
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}>"
        return found[0]

    def by_id(self, ident: str) -> Node:
        found = [n for n in self.elements() if n.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident}"
        return found[0]

    def kids(self, tag: str) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node) and c.tag == tag]


class TreeBuilder(HTMLParser):
    """Parse into ``Node``s, failing on any tag closed out of order (a broken template)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        open_tag = self.stack[-1].tag
        assert open_tag == tag, f"</{tag}> closes <{open_tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def rows(table: Node) -> list[list[str]]:
    """The body rows of a table as the text of each cell."""
    body = table.one("tbody")
    return [
        [cell.words for cell in tr.children if isinstance(cell, Node)] for tr in body.kids("tr")
    ]


def raw(name: str) -> dict[str, Any]:
    loaded = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module", params=NAMES)
def rendered(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str, Node]:
    data = raw(request.param)
    html = render_html(data)
    return data, html, parse(html)


# ---------------------------------------------------------------- the data files


def test_verdict_is_at_the_top(rendered: tuple[dict[str, Any], str, Node]) -> None:
    data, _, doc = rendered
    body = doc.one("body")
    first = body.kids("header")[0]
    assert body.children.index(first) == min(
        body.children.index(n) for n in body.children if isinstance(n, Node)
    )
    expected = "CONFORMANT" if verdict(data).conformant else "NOT CONFORMANT"
    assert first.one("h1").words == expected
    declared = [name for name, on in data["capabilities"].items() if on]
    statement = first.one("p", "for").words
    assert statement.startswith("for the declared capabilities of ")
    assert statement.endswith(": " + ", ".join(declared))
    assert doc.one("head").kids("title")[0].words.startswith(expected + ":")


def test_verdicts_of_the_three_files() -> None:
    labels = {name: parse(render_html(raw(name))).one("h1").words for name in NAMES}
    assert labels == {
        "all-passed": "CONFORMANT",
        "failures": "NOT CONFORMANT",
        "xdist": "CONFORMANT",
    }


def test_area_matrix_counts(rendered: tuple[dict[str, Any], str, Node]) -> None:
    data, _, doc = rendered
    expected: dict[str, Counter[str]] = {}
    for t in data["tests"]:
        expected.setdefault(t["area"], Counter())[t["outcome"]] += 1
    table = doc.by_id("areas").one("table")
    # Columns: area, the four outcomes, total, then a bar without text.
    shown = {row[0]: [int(cell) for cell in row[1:6]] for row in rows(table)}
    assert shown == {
        area: [c[o] for o in OUTCOMES] + [sum(c.values())] for area, c in expected.items()
    }
    assert all(row[6] == "" for row in rows(table))
    totals = Counter(t["outcome"] for t in data["tests"])
    foot = [c.words for c in table.one("tfoot").one("tr").children if isinstance(c, Node)]
    assert foot[:6] == ["All areas", *(str(totals[o]) for o in OUTCOMES), str(len(data["tests"]))]


def test_area_bars_are_proportional() -> None:
    doc = parse(render_html(raw("failures")))
    binding = next(
        tr
        for tr in doc.by_id("areas").one("tbody").kids("tr")
        if tr.kids("th")[0].words == "binding"
    )
    segments = binding.one("div", "bar").kids("span")
    widths = {s.classes[0]: s.attrs["style"] for s in segments}
    assert widths == {"passed": "width: 90.0%", "failed": "width: 10.0%"}


def test_capabilities_declared_and_exercised(rendered: tuple[dict[str, Any], str, Node]) -> None:
    data, _, doc = rendered
    shown = {row[0]: row for row in rows(doc.by_id("capabilities").one("table"))}
    assert list(shown)[: len(data["capabilities"])] == list(data["capabilities"])
    for name, declared in data["capabilities"].items():
        needing = [t for t in data["tests"] if name in t["requires"]]
        exercised = any(t["outcome"] in ("passed", "failed") for t in needing)
        row = shown[name]
        assert row[1] == ("✓ yes" if declared else "no"), name
        assert row[2] == str(len(needing)), name
        assert (row[-1] == "✓ yes") is exercised, name


def test_declared_capability_that_no_test_ran_is_flagged() -> None:
    data = raw("all-passed")
    for t in data["tests"]:
        if "pvcDataSource" in t["requires"]:
            t.update(outcome="skipped", skipReason="no clone support today", required=True)
    doc = parse(render_html(data))
    shown = {row[0]: row for row in rows(doc.by_id("capabilities").one("table"))}
    assert shown["pvcDataSource"][-1] == "! declared, not exercised"


def test_every_test_is_listed_with_outcome_duration_and_skip_reason(
    rendered: tuple[dict[str, Any], str, Node],
) -> None:
    data, _, doc = rendered
    table = doc.by_id("tests").one("table")
    by_nodeid = {t["nodeid"]: t for t in data["tests"]}
    listed = 0
    for group in table.kids("tbody"):
        # Each file's tests under a header row naming the file.
        header, *body_rows = group.kids("tr")
        file = header.one("th", "file").one("code").words
        assert header.one("th", "file").words == f"{file} · {len(body_rows)} test" + (
            "s" if len(body_rows) != 1 else ""
        )
        for tr in body_rows:
            cells = tr.kids("td")
            nodeid = tr.attrs["data-nodeid"] or ""
            test = by_nodeid.pop(nodeid)
            listed += 1
            assert nodeid == f"{file}::{cells[0].words}"
            _check_row(test, cells)
    assert by_nodeid == {}
    assert listed == len(data["tests"])


def _check_row(test: dict[str, Any], cells: list[Node]) -> None:
    assert cells[1].words == test["area"]
    assert cells[3].words == ("yes" if test["required"] and not _excused(test) else "no")
    assert cells[4].words == f"{BADGES[test['outcome']]} {test['outcome']}"
    assert cells[5].words == format_seconds(test["duration"])
    assert cells[6].words == test["worker"]
    if test["outcome"] == "skipped":
        assert test["skipReason"] in cells[7].words


def test_failures_are_expanded_with_their_diagnostics(
    rendered: tuple[dict[str, Any], str, Node],
) -> None:
    data, _, doc = rendered
    failing = [t for t in data["tests"] if t["outcome"] in ("failed", "error")]
    section = doc.by_id("failures")
    entries = section.all("details", "failure")
    assert len(entries) == len(failing) + sum(
        1 for t in data["tests"] if t["outcome"] == "skipped" and not _excused(t)
    )
    for entry in entries:
        assert "open" in entry.attrs
    for test in failing:
        entry = next(
            e for e in entries if test["nodeid"] in e.kids("summary")[0].words.replace(":: ", "::")
        )
        d = test["diagnostics"]
        pres = [p.text for p in entry.all("pre")]
        # Parsed text equals the recorded text: escaped on the way in, nothing lost.
        assert d["message"] in pres
        if d["traceback"]:
            assert d["traceback"] in pres
        for obj in d["objects"]:
            assert obj["yaml"] in pres
        for log in d["logs"]:
            assert (log["text"] or "(empty log)") in pres
        if d["events"]:
            events = [r[3] for r in rows(entry.one("table"))]
            assert events == [" ".join(e["message"].split()) for e in d["events"]]


def _excused(test: dict[str, Any]) -> bool:
    reason = test["skipReason"] or ""
    return not test["required"] or reason.startswith(
        ("profile does not declare", "the profile names no", "the profile declares")
    )


def test_latency_numbers(rendered: tuple[dict[str, Any], str, Node]) -> None:
    data, _, doc = rendered
    by_op: dict[str, list[float]] = {}
    for t in data["tests"]:
        for timing in t["timings"]:
            by_op.setdefault(timing["op"], []).append(timing["seconds"])
    section = doc.by_id("latency")
    body = section.one("table").one("tbody")
    shown = {}
    for tr in body.kids("tr"):
        cells = tr.kids("td")
        shown[tr.kids("th")[0].words] = (
            int(cells[0].words),
            float(cells[1].attrs["data-seconds"] or "nan"),
            cells[1].words,
            float(cells[3].attrs["data-seconds"] or "nan"),
            cells[3].words,
        )
    assert shown == {
        op: (
            len(values),
            statistics.median(values),
            format_seconds(statistics.median(values)),
            max(values),
            format_seconds(max(values)),
        )
        for op, values in sorted(by_op.items())
    }
    chart = section.one("svg", "chart")
    bars = chart.kids("g")
    assert [g.kids("text")[0].words for g in bars] == sorted(by_op)
    for g in bars:
        assert g.all("rect", "median")
        assert g.all("line", "max")


def test_latency_chart_bars_scale_with_the_numbers() -> None:
    doc = parse(render_html(raw("failures")))
    chart = doc.by_id("latency").one("svg", "chart")
    widths = {
        g.kids("text")[0].words: float(g.one("rect", "median").attrs["width"] or "nan")
        for g in chart.kids("g")
    }
    assert widths["pod-succeeded"] > widths["pvc-bound"] > widths["pvc-terminating"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_self_contained(name: str) -> None:
    html = render_html(raw(name))
    lowered = html.lower()
    for needle in ("http://", "https://", "<script", "<link", "src=", "@import", "url(", "//"):
        assert needle not in lowered, needle
    doc = parse(html)
    assert doc.all("style"), "CSS is inline"
    assert all((a.attrs.get("href") or "#").startswith("#") for a in doc.all("a"))


# ---------------------------------------------------------------- regressions first


def test_regressions_come_first() -> None:
    data = raw("failures")
    regressed = data["baselineRegressions"][0]
    doc = parse(render_html(data))
    main = doc.one("main")
    sections = [s.attrs["id"] for s in main.kids("section")]
    assert sections == [
        "regressions",
        "areas",
        "capabilities",
        "tests",
        "failures",
        "latency",
        "run",
    ]
    assert rows(doc.by_id("regressions").one("table")) == [[regressed, "✗ failed"]]
    reasons = [li.words for li in doc.one("ul", "reasons").kids("li")]
    assert reasons[0] == f"regression: passed in the baseline, failed now: {regressed}"
    first_failure = doc.by_id("failures").all("details", "failure")[0]
    assert first_failure.kids("summary")[0].words.startswith("regression ✗ failed")
    assert regressed in first_failure.kids("summary")[0].words.replace(":: ", "::")


def test_no_regression_section_without_regressions() -> None:
    doc = parse(render_html(raw("all-passed")))
    assert doc.one("main").kids("section")[0].attrs["id"] == "areas"
    assert "No test failed or errored" in doc.by_id("failures").words


# ---------------------------------------------------------------- escaping


def test_recorded_text_cannot_inject_markup() -> None:
    data = raw("all-passed")
    evil = "<script>alert('x')</script>"
    image = '<img src=x onerror="alert(1)">'
    test = data["tests"][0]
    test["outcome"] = "failed"
    test["nodeid"] = f"suites/test_x.py::test_{evil}"
    test["diagnostics"] = {
        "message": f"AssertionError: {evil}",
        "traceback": f"E   {image}",
        "objects": [{"kind": "Pod", "namespace": "ns", "name": "p", "yaml": f"a: '{evil}'\n"}],
        "events": [
            {"object": "Pod/ns/p", "type": "Warning", "reason": "R", "message": evil, "time": ""}
        ],
        "logs": [{"pod": "ns/p", "container": "c", "text": f"{image}\n</pre></details>"}],
    }
    data["run"]["argv"] = ["snapconf", "run", evil]
    data["run"]["profile"]["driver"] = evil
    html = render_html(data)
    assert "<script" not in html
    assert "<img" not in html
    assert "</pre></details>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    doc = parse(html)
    entry = doc.by_id("failures").one("details", "failure")
    pres = [p.text for p in entry.all("pre")]
    assert f"AssertionError: {evil}" in pres
    assert f"E   {image}" in pres
    assert f"a: '{evil}'\n" in pres
    assert f"{image}\n</pre></details>" in pres
    assert doc.all("img") == []
    assert doc.all("script") == []


# ---------------------------------------------------------------- files


def test_build_report_rebuilds_from_the_run_folder(tmp_path: Path) -> None:
    shutil.copy(DATA / "failures.json", tmp_path / RESULTS_FILE)
    path = build_report(tmp_path)
    assert path == tmp_path / REPORT_FILE
    assert path.read_text(encoding="utf-8") == render_html(raw("failures"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [REPORT_FILE, RESULTS_FILE]


def test_build_report_without_results(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results file"):
        build_report(tmp_path)
    assert not (tmp_path / REPORT_FILE).exists()


def test_write_report_writes_both_files_and_stores_regressions(tmp_path: Path) -> None:
    baseline = raw("all-passed")
    current = raw("all-passed")
    failing = current["tests"][0]
    failing["outcome"] = "failed"
    failing["diagnostics"] = {
        "message": "boom",
        "traceback": "",
        "objects": [],
        "events": [],
        "logs": [],
    }
    out = tmp_path / "reports" / "sc-1"
    path = write_report(current, out, baseline=DATA / "all-passed.json")
    assert path == out / REPORT_FILE
    stored = RunResults.load(out / RESULTS_FILE)
    assert stored.baseline_regressions == [failing["nodeid"]]
    assert current["baselineRegressions"] == []  # the caller's dict is left alone
    doc = parse(path.read_text(encoding="utf-8"))
    assert doc.one("h1").words == "NOT CONFORMANT"
    assert rows(doc.by_id("regressions").one("table"))[0][0] == failing["nodeid"]
    # The rebuilt report says the same without the baseline at hand.
    assert build_report(out).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    assert verdict(baseline).conformant


def test_write_report_checks_the_results(tmp_path: Path) -> None:
    data = raw("all-passed")
    data["schemaVersion"] = 2
    with pytest.raises(ResultsError, match="schema version 2 is not supported"):
        write_report(data, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.00 s"),
        (0.424, "0.42 s"),
        (12.34, "12.3 s"),
        (245.0, "4 m 05 s"),
        (3720, "1 h 02 m"),
    ],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_run_details_are_shown() -> None:
    data = raw("xdist")
    doc = parse(render_html(data))
    facts = {div.one("dt").words: div.one("dd").words for div in doc.one("dl", "facts").kids("div")}
    assert facts["Kubernetes"] == data["run"]["cluster"]["kubernetesVersion"]
    assert facts["Run"] == data["run"]["id"]
    assert facts["Duration"].endswith(", 2 workers")
    components = rows(doc.by_id("run").all("table")[1])
    assert [c[0] for c in components] == [c["name"] for c in data["run"]["cluster"]["components"]]


def test_cluster_notes_errors_and_leaks_are_shown() -> None:
    data = raw("xdist")
    cluster = data["run"]["cluster"]
    cluster["notes"] = ["pods not readable, component images unknown: forbidden"]
    cluster["error"] = "cluster versions could not be read: timeout"
    cluster["leaks"] = ["VolumeSnapshotContent/snapcontent-sc-1"]
    cluster["components"].append({"name": "csi-snapshotter", "image": "k8s/x:v8", "pod": "ns/p"})
    doc = parse(render_html(data))
    section = doc.by_id("run")
    assert [li.words for li in section.one("ul", "notes").kids("li")] == [
        "pods not readable, component images unknown: forbidden",
        "cluster versions could not be read: timeout",
    ]
    assert [li.words for li in section.one("ul", "leaks").kids("li")] == [
        "VolumeSnapshotContent/snapcontent-sc-1"
    ]
    assert f"snapconf cleanup --run-id {data['run']['id']}" in section.words
    components = rows(section.all("table")[1])
    assert components[-1] == ["csi-snapshotter", "", "k8s/x:v8", "ns/p"]
    assert components[0][3] == ""  # a host-process binary has no pod


def test_no_notes_or_leaks_sections_without_them() -> None:
    section = parse(render_html(raw("xdist"))).by_id("run")
    assert section.all("ul", "notes") == []
    assert section.all("ul", "leaks") == []
    # Without pods or nodes recorded, the components table has no "Where" column.
    assert len(section.all("table")[1].one("thead").one("tr").kids("th")) == 3


def test_a_cleanup_note_is_shown_with_its_test_and_kept_in_results() -> None:
    data = raw("all-passed")
    note = "cleanup released VolumeSnapshot ns/s from the external-provisioner's finalizer"
    data["tests"][0]["notes"] = [note]
    data["tests"][0]["description"] = "A restore holds the data of snapshot time."
    results = RunResults.from_dict(data)
    assert results.to_dict()["tests"][0]["notes"] == [note]
    page = parse(render_html(results))
    shown = [n.words for n in page.all("p", "note")]
    assert f"note: {note}" in shown
    assert "A restore holds the data of snapshot time." in [
        n.words for n in page.all("div", "desc")
    ]


def test_anchors_are_stable_and_unique() -> None:
    """Each test's row and failure entry have ids from its nodeid, not its position."""
    data = json.loads((DATA / "failures.json").read_text(encoding="utf-8"))
    text = render_html(data)
    nodeids = [t["nodeid"] for t in data["tests"]]
    anchors = [nodeid_anchor(n) for n in nodeids]
    assert len(set(anchors)) == len(nodeids)
    for anchor in anchors:
        assert f'<tr id="{anchor}" ' in text
        assert anchor.startswith("test-")
    # another run, in another order and with a test fewer, keeps every other test's id
    fewer = dict(data, tests=list(reversed(data["tests"][1:])))
    again = render_html(fewer)
    assert all(f'id="{a}"' in again for a in anchors[1:])
    problem = next(t for t in data["tests"] if t["outcome"] in ("failed", "error"))
    assert f'id="{failure_anchor(problem["nodeid"])}"' in text
    assert f'href="#{failure_anchor(problem["nodeid"])}"' in text
    assert f'href="#{nodeid_anchor(problem["nodeid"])}"' in text
    # alike nodeids differ by their hash
    assert nodeid_anchor("a.py::t[x y]") != nodeid_anchor("a.py::t[x-y]")
