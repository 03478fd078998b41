from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from conformance.profile import (
    CAPABILITIES,
    ClassSpec,
    PodSelector,
    Profile,
    ProfileError,
    Sizes,
    Stress,
    Timeouts,
    Workload,
    is_secret_parameter,
    load_profile,
    load_profile_text,
)

REPO = Path(__file__).resolve().parents[1]
GI = 2**30
MI = 2**20

NO_SNAPSHOT_CLASS = """\
driver: hostpath.csi.k8s.io
storageClass: {name: csi-hostpath-sc}
"""
MINIMAL = NO_SNAPSHOT_CLASS + "snapshotClass: {name: csi-hostpath-snapclass}\n"


def write(tmp_path: Path, text: str, name: str = "profile.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, name: str = "profile.yaml") -> ProfileError:
    path = write(tmp_path, text, name)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(err.value).startswith(f"{path}: "), "messages start with the file path"
    return err.value


# ---------------------------------------------------------------- snapconf format


def test_minimal_profile_gets_defaults() -> None:
    p = load_profile_text(MINIMAL, "mem.yaml")
    assert p.driver == "hostpath.csi.k8s.io"
    assert p.storage_class == ClassSpec(name="csi-hostpath-sc")
    assert p.wffc_storage_class is None
    assert p.snapshot_class == ClassSpec(name="csi-hostpath-snapclass")
    assert p.capabilities == {}
    assert p.access_modes == ("ReadWriteOnce",)
    assert p.sizes == Sizes(min_bytes=MI, default_bytes=GI, max_bytes=None)
    assert p.timeouts == Timeouts()
    assert p.timeouts.claim_provision == 300.0
    assert p.timeouts.error_status == 60.0
    assert p.timeouts.clock_skew == 5.0
    assert p.driver_pods == ()
    assert p.workload == Workload()
    assert p.workload.image == "docker.io/library/busybox:1.35"
    assert p.workload.pull_policy == "IfNotPresent"
    assert p.workload.payload_bytes == 16 * MI
    assert p.stress == Stress(volumes=5, snapshots=5)
    assert p.source == "mem.yaml"
    assert p.format == "snapconf"


def test_empty_sections_mean_defaults() -> None:
    p = load_profile_text(
        MINIMAL + "capabilities:\nsizes:\ntimeouts:\nworkload:\nstress:\nwffcStorageClass:\n"
    )
    assert p.capabilities == {}
    assert p.sizes == Sizes()
    assert p.timeouts == Timeouts()
    assert p.workload == Workload()
    assert p.stress == Stress()
    assert p.wffc_storage_class is None


def test_full_profile() -> None:
    p = load_profile_text(
        textwrap.dedent(
            """\
        driver: csi.tidepool.example.com
        storageClass:
          create:
            parameters: {pool: tp-01, csi.storage.k8s.io/fstype: ext4}
            reclaimPolicy: Retain
            volumeBindingMode: Immediate
            allowVolumeExpansion: true
            mountOptions: [noatime]
        wffcStorageClass:
          create: {parameters: {pool: tp-01}}
        snapshotClass:
          create: {parameters: {incremental: "true"}}
        capabilities: {snapshotDataSource: true, block: false, restoreSizeAboveCapacity: true}
        accessModes: [ReadWriteOnce, ReadWriteOncePod]
        sizes: {min: 512Mi, default: 2Gi, max: 1Ti}
        timeouts:
          claimProvision: 10m
          snapshotReady: 1h30m
          podStart: 90
          podDelete: 1m30s
          delete: 4m
          dataSourceProvision: 20m
          errorStatus: 45s
          clockSkew: 1m30s
        workload: {image: registry.example.com/tools/busybox:1.36, pullPolicy: Never, payload: 64Mi}
        stress: {volumes: 10, snapshots: 2}
        driverPods:
          - {namespace: tidepool-system, selector: "app.kubernetes.io/name=tidepool-csi"}
          - namespace: tidepool-system
            selector: "app=tidepool-node, tier in (node)"
        """
        )
    )
    assert p.storage_class.create == {
        "parameters": {"pool": "tp-01", "csi.storage.k8s.io/fstype": "ext4"},
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
        "mountOptions": ["noatime"],
    }
    assert p.storage_class.name is None
    # The WaitForFirstConsumer class gets its binding mode filled in.
    assert p.wffc_storage_class == ClassSpec(
        create={"parameters": {"pool": "tp-01"}, "volumeBindingMode": "WaitForFirstConsumer"}
    )
    assert p.snapshot_class == ClassSpec(create={"parameters": {"incremental": "true"}})
    assert list(p.capabilities) == ["snapshotDataSource", "block", "restoreSizeAboveCapacity"]
    assert p.access_modes == ("ReadWriteOnce", "ReadWriteOncePod")
    assert p.sizes == Sizes(min_bytes=512 * MI, default_bytes=2 * GI, max_bytes=2**40)
    assert p.timeouts == Timeouts(
        claim_provision=600,
        snapshot_ready=5400,
        pod_start=90,
        pod_delete=90,
        delete=240,
        data_source_provision=1200,
        error_status=45,
        clock_skew=90,
    )
    assert p.driver_pods == (
        PodSelector("tidepool-system", "app.kubernetes.io/name=tidepool-csi"),
        PodSelector("tidepool-system", "app=tidepool-node, tier in (node)"),
    )
    assert p.workload == Workload("registry.example.com/tools/busybox:1.36", "Never", 64 * MI)
    assert p.stress == Stress(volumes=10, snapshots=2)


def test_driver_pods_may_be_empty_and_round_trip() -> None:
    assert load_profile_text(MINIMAL + "driverPods:\n").driver_pods == ()
    assert load_profile_text(MINIMAL + "driverPods: []\n").driver_pods == ()
    assert "driverPods" not in load_profile_text(MINIMAL).to_dict()
    p = load_profile_text(MINIMAL + "driverPods: [{namespace: csi, selector: ' app=x '}]\n")
    assert p.driver_pods == (PodSelector("csi", "app=x"),)
    d = p.to_dict()
    assert d["driverPods"] == [{"namespace": "csi", "selector": "app=x"}]
    assert load_profile_text(yaml.safe_dump(d)).driver_pods == p.driver_pods


def test_clock_skew_is_a_timeout_with_a_default() -> None:
    assert Timeouts().clock_skew == 5.0
    p = load_profile_text(MINIMAL + "timeouts: {clockSkew: 250ms}\n")
    assert p.timeouts.clock_skew == 0.25
    assert p.timeouts.to_dict()["clockSkew"] == "250ms"
    assert load_profile_text(MINIMAL).to_dict()["timeouts"]["clockSkew"] == "5s"


def test_group_snapshot_class_by_name_or_create() -> None:
    named = load_profile_text(
        MINIMAL + "groupSnapshotClass: {name: vendor-vgsc}\ncapabilities: {groupSnapshot: true}\n"
    )
    assert named.group_snapshot_class == ClassSpec(name="vendor-vgsc")
    assert named.has("groupSnapshot")
    made = load_profile_text(MINIMAL + "groupSnapshotClass: {create: {parameters: {tier: gold}}}\n")
    assert made.group_snapshot_class == ClassSpec(create={"parameters": {"tier": "gold"}})
    assert not made.has("groupSnapshot")  # a class alone declares nothing
    assert load_profile_text(MINIMAL).group_snapshot_class is None
    declined = load_profile_text(MINIMAL + "capabilities: {groupSnapshot: false}\n")
    assert declined.group_snapshot_class is None


def test_group_snapshot_class_redacts_and_round_trips() -> None:
    p = load_profile_text(
        MINIMAL
        + "groupSnapshotClass: {create: {parameters: {group-secret: xyz, tier: gold}}}\n"
        + "capabilities: {groupSnapshot: true}\n"
    )
    d = p.to_dict()
    assert list(d)[:5] == [
        "driver", "storageClass", "snapshotClass", "groupSnapshotClass", "capabilities",
    ]  # fmt: skip
    assert d["groupSnapshotClass"] == {
        "create": {"parameters": {"group-secret": "<redacted>", "tier": "gold"}}
    }
    assert load_profile_text(yaml.safe_dump(d)).to_dict() == d
    assert "groupSnapshotClass" not in load_profile_text(MINIMAL).to_dict()


def test_create_may_be_empty() -> None:
    p = load_profile_text(
        "driver: d.example.com\nstorageClass: {create: }\nsnapshotClass: {create: }\n"
    )
    assert p.storage_class == ClassSpec(create={})
    assert p.snapshot_class == ClassSpec(create={})


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ("{min: 5Gi}", Sizes(5 * GI, 5 * GI, None)),
        ("{max: 512Mi}", Sizes(MI, 512 * MI, 512 * MI)),
        ("{default: 512Ki}", Sizes(512 * 1024, 512 * 1024, None)),
        ("{min: 1Gi, max: 1Gi}", Sizes(GI, GI, GI)),
        ("{default: 1073741824}", Sizes(MI, GI, None)),
    ],
)
def test_missing_sizes_fit_the_given_ones(sizes: str, expected: Sizes) -> None:
    assert load_profile_text(MINIMAL + f"sizes: {sizes}\n").sizes == expected


def test_default_payload_shrinks_to_fit_small_volumes() -> None:
    p = load_profile_text(MINIMAL + "sizes: {default: 8Mi}\n")
    assert p.workload.payload_bytes == 4 * MI


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        # unknown keys at every level, with did-you-mean
        ("storageclass: {name: x}\n", "storageclass", "unknown key, did you mean storageClass?"),
        ("timeout: {podStart: 1m}\n", "timeout", "did you mean timeouts?"),
        ("sizes: {minimum: 1Gi}\n", "sizes.minimum", "unknown key, did you mean min?"),
        ("timeouts: {podstart: 1m}\n", "timeouts.podstart", "did you mean podStart?"),
        ("timeouts: {snapshotCreate: 1m}\n", "timeouts.snapshotCreate", "unknown key"),
        ("workload: {pull: Always}\n", "workload.pull", "did you mean pullPolicy?"),
        ("stress: {volume: 2}\n", "stress.volume", "did you mean volumes?"),
        ("zzz: 1\n", "zzz", "unknown key (expected one of: driver, storageClass"),
        (
            "snapshotClass: {nmae: x}\n",
            "snapshotClass.nmae",
            "unknown key, did you mean name?",
        ),
        (
            "snapshotClass: {create: {reclaimPolicy: Delete}}\n",
            "snapshotClass.create.reclaimPolicy",
            "unknown key",
        ),
        (
            "wffcStorageClass: {create: {parameter: {}}}\n",
            "wffcStorageClass.create.parameter",
            "did you mean parameters?",
        ),
        # capabilities
        (
            "capabilities: {snapshotDatasource: true}\n",
            "capabilities.snapshotDatasource",
            "unknown capability, did you mean snapshotDataSource?",
        ),
        (
            "capabilities: {preprovisionedsnapshot: true}\n",
            "capabilities.preprovisionedsnapshot",
            "did you mean preProvisionedSnapshot?",
        ),
        ("capabilities: {teleport: true}\n", "capabilities.teleport", "unknown capability ("),
        ("capabilities: {block: 1}\n", "capabilities.block", "expected true or false, got 1"),
        ('capabilities: {block: "true"}\n', "capabilities.block", 'got "true"'),
        ("capabilities: [block]\n", "capabilities", 'expected a mapping, got ["block"]'),
        # classes
        ("snapshotClass: {}\n", "snapshotClass", "set exactly one of name"),
        (
            "snapshotClass: {name: a, create: {}}\n",
            "snapshotClass",
            "set exactly one of name",
        ),
        ("snapshotClass: csi-snap\n", "snapshotClass", 'expected a mapping, got "csi-snap"'),
        ("snapshotClass: {name: Bad_Name}\n", "snapshotClass.name", "not a valid object name"),
        ("snapshotClass: {name: 5}\n", "snapshotClass.name", "expected a non-empty string"),
        (
            "wffcStorageClass: {create: {volumeBindingMode: Immediate}}\n",
            "wffcStorageClass.create.volumeBindingMode",
            "must be WaitForFirstConsumer",
        ),
        (
            "wffcStorageClass: {create: {volumeBindingMode: WaitForFirstconsumer}}\n",
            "wffcStorageClass.create.volumeBindingMode",
            "did you mean WaitForFirstConsumer?",
        ),
        (
            "wffcStorageClass: {create: {reclaimPolicy: Recycle}}\n",
            "wffcStorageClass.create.reclaimPolicy",
            "unknown value 'Recycle'",
        ),
        (
            "wffcStorageClass: {create: {allowVolumeExpansion: yes please}}\n",
            "wffcStorageClass.create.allowVolumeExpansion",
            "expected true or false",
        ),
        (
            "wffcStorageClass: {create: {mountOptions: noatime}}\n",
            "wffcStorageClass.create.mountOptions",
            "expected a list of strings",
        ),
        (
            "snapshotClass: {create: {parameters: {replicas: 3}}}\n",
            "snapshotClass.create.parameters.replicas",
            "expected a string, got 3",
        ),
        (
            'snapshotClass: {create: {parameters: {"csi.storage.k8s.io/fstype": 4}}}\n',
            'snapshotClass.create.parameters["csi.storage.k8s.io/fstype"]',
            "quote it",
        ),
        # the group snapshot class
        ("groupSnapshotClass: {}\n", "groupSnapshotClass", "set exactly one of name"),
        (
            "groupSnapshotClass: {create: {reclaimPolicy: Delete}}\n",
            "groupSnapshotClass.create.reclaimPolicy",
            "unknown key",
        ),
        (
            "groupSnapshotClass: {name: Bad_Name}\n",
            "groupSnapshotClass.name",
            "not a valid object name",
        ),
        (
            "groupSnapshotClass: {create: {parameters: {replicas: 3}}}\n",
            "groupSnapshotClass.create.parameters.replicas",
            "expected a string, got 3",
        ),
        (
            "groupSnapshotclass: {name: x}\n",
            "groupSnapshotclass",
            "did you mean groupSnapshotClass?",
        ),
        (
            "capabilities: {groupSnapshot: true}\n",
            "groupSnapshotClass",
            "required when capabilities.groupSnapshot is true: "
            "{name: <existing VolumeGroupSnapshotClass>} or {create:",
        ),
        # access modes
        ("accessModes: ReadWriteOnce\n", "accessModes", "expected a non-empty list"),
        ("accessModes: []\n", "accessModes", "expected a non-empty list"),
        ("accessModes: [RWO]\n", "accessModes[0]", "unknown value 'RWO'"),
        (
            "accessModes: [ReadWriteOnce, ReadWriteMnay]\n",
            "accessModes[1]",
            "did you mean ReadWriteMany?",
        ),
        (
            "accessModes: [ReadWriteOnce, ReadWriteOnce]\n",
            "accessModes[1]",
            "listed twice",
        ),
        # sizes
        ("sizes: {min: [1]}\n", "sizes.min", "expected a quantity like 1Gi, got [1]"),
        ("sizes: {min: 1.5}\n", "sizes.min", "expected a quantity like 1Gi, got 1.5"),
        ("sizes: {default: lots}\n", "sizes.default", "expected a quantity like 1Gi"),
        ("sizes: {default: 1GB}\n", "sizes.default", "did you mean 1G?"),
        ("sizes: {max: -1Gi}\n", "sizes.max", "cannot be negative"),
        ("sizes: {min: 0}\n", "sizes.min", "must be more than 0"),
        ("sizes: {min: 2Gi, default: 1Gi}\n", "sizes.min", "2Gi is more than sizes.default 1Gi"),
        (
            "sizes: {default: 20Gi, max: 10Gi}\n",
            "sizes.default",
            "20Gi is more than sizes.max 10Gi",
        ),
        ("sizes: {min: 2Gi, max: 1Gi}\n", "sizes.min", "2Gi is more than sizes.max 1Gi"),
        ("sizes: 1Gi\n", "sizes", "expected a mapping"),
        # timeouts
        ("timeouts: {podStart: 5 minutes}\n", "timeouts.podStart", "expected a duration"),
        ("timeouts: {podStart: -5m}\n", "timeouts.podStart", "cannot be negative"),
        ("timeouts: {podStart: 0s}\n", "timeouts.podStart", "must be more than 0"),
        ("timeouts: {delete: [5m]}\n", "timeouts.delete", "expected a duration"),
        ("timeouts: {errorStatus: true}\n", "timeouts.errorStatus", "expected a duration"),
        ("timeouts: {podStart: 1h30}\n", "timeouts.podStart", "expected a duration"),
        ("timeouts: {podStart: 5M}\n", "timeouts.podStart", "expected a duration"),
        ("timeouts: {podStart: 1d}\n", "timeouts.podStart", "expected a duration"),
        ("timeouts: {podStart: ''}\n", "timeouts.podStart", "expected a duration"),
        ("timeouts: 5m\n", "timeouts", 'expected a mapping, got "5m"'),
        ("timeouts: {clockSkew: soon}\n", "timeouts.clockSkew", "expected a duration"),
        ("timeouts: {clockSkew: 0s}\n", "timeouts.clockSkew", "must be more than 0"),
        ("timeouts: {clockskew: 5s}\n", "timeouts.clockskew", "did you mean clockSkew?"),
        # driverPods
        ("driverpods: []\n", "driverpods", "did you mean driverPods?"),
        ("driverPods: {namespace: csi}\n", "driverPods", "expected a list like [{namespace:"),
        ("driverPods: [app=csi]\n", "driverPods[0]", 'expected a mapping, got "app=csi"'),
        (
            "driverPods: [{namespace: csi, selector: app=x, container: c}]\n",
            "driverPods[0].container",
            "unknown key (expected one of: namespace, selector)",
        ),
        (
            "driverPods: [{namespace: csi, selectr: app=x}]\n",
            "driverPods[0].selectr",
            "did you mean selector?",
        ),
        ("driverPods: [{namespace: csi}]\n", "driverPods[0].selector", "required"),
        ("driverPods: [{selector: app=x}]\n", "driverPods[0].namespace", "required"),
        (
            "driverPods: [{namespace: csi, selector: ''}]\n",
            "driverPods[0].selector",
            "expected a non-empty string",
        ),
        (
            "driverPods: [{namespace: csi, selector: '  '}]\n",
            "driverPods[0].selector",
            "expected a non-empty string",
        ),
        (
            "driverPods: [{namespace: csi, selector: 5}]\n",
            "driverPods[0].selector",
            "expected a non-empty string, got 5",
        ),
        (
            "driverPods: [{namespace: Kube_System, selector: app=x}]\n",
            "driverPods[0].namespace",
            "'Kube_System' is not a valid namespace name (a DNS label",
        ),
        (
            "driverPods: [{namespace: csi.example, selector: app=x}]\n",
            "driverPods[0].namespace",
            "not a valid namespace name",
        ),
        (
            f"driverPods: [{{namespace: {'n' * 64}, selector: app=x}}]\n",
            "driverPods[0].namespace",
            "not a valid namespace name",
        ),
        (
            "driverPods: [{namespace: csi, selector: app=x}, {namespace: csi, selector: app=x}]\n",
            "driverPods[1]",
            "csi 'app=x' is listed twice",
        ),
        # wrong types elsewhere
        ("workload: {image: 5}\n", "workload.image", "expected a non-empty string, got 5"),
        ("stress: {volumes: true}\n", "stress.volumes", "expected a whole number, got true"),
        ("stress: [1]\n", "stress", "expected a mapping"),
        ("storageClass2: {name: x}\n", "storageClass2", "did you mean storageClass?"),
        # workload
        ("workload: {pullPolicy: always}\n", "workload.pullPolicy", "did you mean Always?"),
        ("workload: {pullPolicy: 1}\n", "workload.pullPolicy", "expected one of Always"),
        ("workload: {image: ''}\n", "workload.image", "expected a non-empty string"),
        ("workload: {image: busy box}\n", "workload.image", "not an image reference"),
        ("workload: {payload: 16MB}\n", "workload.payload", "did you mean 16M?"),
        (
            "sizes: {default: 8Mi}\nworkload: {payload: 16Mi}\n",
            "workload.payload",
            "16Mi does not fit in a volume of sizes.default 8Mi",
        ),
        # stress
        ("stress: {volumes: 0}\n", "stress.volumes", "must be at least 1"),
        ("stress: {snapshots: two}\n", "stress.snapshots", "expected a whole number"),
        ("stress: {snapshots: 2.0}\n", "stress.snapshots", "expected a whole number"),
    ],
)
def test_snapconf_errors_name_the_key_path(
    tmp_path: Path, body: str, path: str, message: str
) -> None:
    # A body about the snapshot class brings its own (a key may appear only once).
    base = NO_SNAPSHOT_CLASS if body.startswith("snapshotClass:") else MINIMAL
    err = load_error(tmp_path, base + body)
    assert err.path == path
    assert f": {path}: " in str(err)
    assert message in str(err)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("storageClass: {name: x}\n", "driver", "required: the CSI driver's name"),
        ("driver: d.example.com\n", "storageClass", "required: {name: <existing StorageClass>}"),
        (
            NO_SNAPSHOT_CLASS,
            "snapshotClass",
            "required: {name: <existing VolumeSnapshotClass>} or {create:",
        ),
        (NO_SNAPSHOT_CLASS + "snapshotClass:\n", "snapshotClass", "required"),
        (
            "driver: d.example.com\nsnapshotClass: {name: x}\n",
            "storageClass",
            "required: {name: <existing StorageClass>}",
        ),
        ("driver:\nstorageClass: {name: x}\n", "driver", "required"),
        ("driver: Hostpath_CSI\nstorageClass: {name: x}\n", "driver", "not a valid CSI driver"),
        (f"driver: {'a' * 64}\nstorageClass: {{name: x}}\n", "driver", "at most 63"),
        ("driver: [a]\nstorageClass: {name: x}\n", "driver", "expected a non-empty string"),
    ],
)
def test_required_and_driver_errors(tmp_path: Path, text: str, path: str, message: str) -> None:
    err = load_error(tmp_path, text)
    assert err.path == path
    assert message in str(err)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ProfileError, match=r"nope\.yaml: no such file"):
        load_profile(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="is a directory"):
        load_profile(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"driver: \xff\xfe\n")
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_profile(path)


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    err = load_error(
        tmp_path, "driver: d.example.com\nstorageClass: {name: x}\ncapabilities:\n  block: [\n"
    )
    assert "invalid YAML" in str(err)
    assert "line 5" in str(err)


def test_yaml_syntax_error_bad_indent(tmp_path: Path) -> None:
    err = load_error(tmp_path, "driver: d.example.com\n  storageClass: x\n")
    assert "line 2, column 15: invalid YAML: mapping values are not allowed here" in str(err)


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    err = load_error(tmp_path, MINIMAL + "capabilities: {block: true}\ncapabilities: {}\n")
    assert "duplicate key 'capabilities'" in str(err)
    assert "line 5" in str(err)


def test_yaml_merge_keys_still_work() -> None:
    p = load_profile_text(MINIMAL + "timeouts:\n  <<: {podStart: 1m, delete: 2m}\n  delete: 3m\n")
    assert p.timeouts.pod_start == 60
    assert p.timeouts.delete == 180


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- driver: x\n", "expected a mapping at the top level, got [{"),
        ("just text\n", 'expected a mapping at the top level, got "just text"'),
        ("1: x\n", "keys must be strings"),
    ],
)
def test_top_level_shape(tmp_path: Path, text: str, message: str) -> None:
    assert message in str(load_error(tmp_path, text))


def test_error_is_a_profile_error_with_parts() -> None:
    with pytest.raises(ProfileError) as err:
        load_profile_text(MINIMAL + "capabilities: {snapshotDatasource: true}\n", "x.yaml")
    assert err.value.source == "x.yaml"
    assert err.value.path == "capabilities.snapshotDatasource"
    assert str(err.value) == (
        "x.yaml: capabilities.snapshotDatasource: unknown capability, "
        "did you mean snapshotDataSource?"
    )


# ---------------------------------------------------------------- model


def test_has() -> None:
    p = load_profile_text(MINIMAL + "capabilities: {block: true, exec: false}\n")
    assert p.has("block")
    assert not p.has("exec")
    assert not p.has("snapshotDataSource")
    with pytest.raises(ValueError, match="did you mean snapshotDataSource"):
        p.has("snapshotDatasource")


def test_capabilities_cover_e2e_and_snapconf() -> None:
    for name in (
        "persistence",
        "block",
        "fsGroup",
        "volumeMountGroup",
        "exec",
        "snapshotDataSource",
        "pvcDataSource",
        "multipods",
        "RWX",
        "controllerExpansion",
        "nodeExpansion",
        "onlineExpansion",
        "offlineExpansion",
        "volumeLimits",
        "singleNodeVolume",
        "topology",
        "capacity",
        "multiplePVsSameID",
        "FSResizeFromSourceNotSupported",
        "readWriteOncePod",
        "capReadOnlyMany",
        "preProvisionedSnapshot",
        "preProvisionedVolume",
        "restoreSizeAboveCapacity",
    ):
        assert CAPABILITIES[name]


def test_class_spec_needs_exactly_one() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ClassSpec()
    with pytest.raises(ValueError, match="exactly one"):
        ClassSpec(name="a", create={})


def test_to_dict_redacts_secrets_and_round_trips() -> None:
    p = load_profile_text(
        """\
driver: csi.tidepool.example.com
storageClass:
  create:
    parameters:
      pool: tp-01
      apiToken: s3cr3t
      adminPassword: hunter2
      csi.storage.k8s.io/provisioner-secret-name: tidepool-creds
      csi.storage.k8s.io/provisioner-secret-namespace: tidepool-system
      clientSecret: abc
snapshotClass:
  create: {parameters: {encryption-secret: xyz, tier: gold}}
capabilities: {block: true}
"""
    )
    d = p.to_dict()
    json.dumps(d)  # serialisable
    params = d["storageClass"]["create"]["parameters"]
    assert params == {
        "pool": "tp-01",
        "apiToken": "<redacted>",
        "adminPassword": "<redacted>",
        "csi.storage.k8s.io/provisioner-secret-name": "tidepool-creds",
        "csi.storage.k8s.io/provisioner-secret-namespace": "tidepool-system",
        "clientSecret": "<redacted>",
    }
    assert d["snapshotClass"] == {
        "create": {"parameters": {"encryption-secret": "<redacted>", "tier": "gold"}}
    }
    # the profile itself keeps the real values
    assert p.storage_class.create is not None
    assert p.storage_class.create["parameters"]["apiToken"] == "s3cr3t"
    d["storageClass"]["create"]["parameters"]["pool"] = "changed"
    assert p.storage_class.create["parameters"]["pool"] == "tp-01"
    # the redacted form still loads
    again = load_profile_text(yaml.safe_dump(d))
    assert again.to_dict() == d


def test_to_dict_shape() -> None:
    d = load_profile(REPO / "profiles" / "hostpath.yaml").to_dict()
    assert list(d) == [
        "driver",
        "storageClass",
        "wffcStorageClass",
        "snapshotClass",
        "groupSnapshotClass",
        "capabilities",
        "accessModes",
        "sizes",
        "timeouts",
        "workload",
        "stress",
    ]
    assert d["groupSnapshotClass"] == {"create": {"parameters": {}}}
    assert d["sizes"] == {"min": "1Mi", "default": "1Gi", "max": "10Gi"}
    assert d["timeouts"]["errorStatus"] == "15s"
    assert d["timeouts"]["claimProvision"] == "2m"
    assert d["workload"] == {
        "image": "docker.io/library/busybox:1.35",
        "pullPolicy": "IfNotPresent",
        "payload": "16Mi",
        "exec": True,
    }
    assert "max" not in load_profile_text(MINIMAL).to_dict()["sizes"]


@pytest.mark.parametrize("name", ["hostpath.yaml", "hostpath-testdriver.yaml"])
def test_to_dict_round_trips(name: str) -> None:
    p = load_profile(REPO / "profiles" / name)
    again = load_profile_text(yaml.safe_dump(p.to_dict()), p.source)
    assert again.to_dict() == p.to_dict()
    assert again.capabilities == p.capabilities


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("apiToken", True),
        ("password", True),
        ("csi.storage.k8s.io/node-stage-secret-name", False),
        ("csi.storage.k8s.io/node-stage-secret-namespace", False),
        ("clientSecret", True),
        ("pool", False),
    ],
)
def test_is_secret_parameter(key: str, secret: bool) -> None:
    assert is_secret_parameter(key) is secret


# ---------------------------------------------------------------- e2e testdriver.yaml

E2E_NO_SNAPSHOT_CLASS = """\
StorageClass: {FromName: true}
DriverInfo:
  Name: d.example.com
"""
# DriverInfo comes last so a test can append keys of DriverInfo (indented) or top-level ones.
E2E_BASE = """\
StorageClass: {FromName: true}
SnapshotClass: {FromName: true}
DriverInfo:
  Name: d.example.com
"""


def test_e2e_minimal_from_name() -> None:
    p = load_profile_text(
        """\
StorageClass:
  FromName: true
SnapshotClass:
  FromName: true
DriverInfo:
  Name: hostpath.csi.k8s.io
  Capabilities:
    block: true
    controllerExpansion: true
    snapshotDataSource: true
""",
        "td.yaml",
    )
    assert p.format == "e2e"
    assert p.driver == "hostpath.csi.k8s.io"
    assert p.storage_class == ClassSpec(create={})
    assert p.snapshot_class == ClassSpec(create={})
    assert p.wffc_storage_class is None
    assert p.group_snapshot_class is None
    # As the e2e loader does: controllerExpansion implies both expansion modes.
    assert p.capabilities == {
        "block": True,
        "controllerExpansion": True,
        "snapshotDataSource": True,
        "onlineExpansion": True,
        "offlineExpansion": True,
    }
    # e2e's default SupportedSizeRange.Min is 5Gi.
    assert p.sizes == Sizes(5 * GI, 5 * GI, None)
    assert p.timeouts == Timeouts()
    assert p.access_modes == ("ReadWriteOnce",)
    assert p.stress == Stress()


def test_e2e_group_snapshot_gets_a_class_with_the_drivers_defaults() -> None:
    # a testdriver.yaml for e2e before 1.37 has no GroupSnapshotClass: snapconf creates one.
    p = load_profile_text(E2E_BASE + "  Capabilities: {groupSnapshot: true}\n")
    assert p.group_snapshot_class == ClassSpec(create={})
    assert load_profile_text(yaml.safe_dump(p.to_dict())).group_snapshot_class == ClassSpec(
        create={}
    )


@pytest.mark.parametrize(
    ("section", "wanted"),
    [
        ("GroupSnapshotClass: {FromName: true}\n", ClassSpec(create={})),
        ("GroupSnapshotClass: {FromExistingClassName: vgsc}\n", ClassSpec(name="vgsc")),
        (
            "GroupSnapshotClass: {FromFile: vgsc.yaml}\n",
            ClassSpec(create={"parameters": {"a": "b"}}),  # the tests pick each policy
        ),
    ],
)
def test_e2e_group_snapshot_class_maps_like_the_others(
    tmp_path: Path, section: str, wanted: ClassSpec
) -> None:
    write(
        tmp_path,
        "kind: VolumeGroupSnapshotClass\ndriver: d.example.com\ndeletionPolicy: Retain\n"
        "parameters: {a: b}\n",
        "vgsc.yaml",
    )
    text = section + E2E_BASE + "  Capabilities: {groupSnapshot: true}\n"
    assert load_profile(write(tmp_path, text, "td.yaml")).group_snapshot_class == wanted
    unused = section + E2E_BASE  # no groupSnapshot capability: e2e runs no group specs
    assert load_profile(write(tmp_path, unused, "td.yaml")).group_snapshot_class is None


def test_e2e_group_snapshot_class_file_must_be_one(tmp_path: Path) -> None:
    write(tmp_path, "kind: VolumeSnapshotClass\ndriver: d.example.com\n", "vgsc.yaml")
    text = "GroupSnapshotClass: {FromFile: vgsc.yaml}\n" + E2E_BASE
    err = load_error(tmp_path, text + "  Capabilities: {groupSnapshot: true}\n")
    assert err.path == "GroupSnapshotClass.FromFile"
    assert "expected VolumeGroupSnapshotClass" in str(err)


def test_e2e_explicit_expansion_is_kept() -> None:
    p = load_profile_text(
        E2E_BASE + "  Capabilities: {controllerExpansion: true, onlineExpansion: false}\n"
    )
    assert p.capabilities["onlineExpansion"] is False
    assert p.capabilities["offlineExpansion"] is True


def test_e2e_everything(tmp_path: Path) -> None:
    (tmp_path / "classes").mkdir()
    write(
        tmp_path,
        """\
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata: {name: e2e-sc}
        provisioner: csi.tidepool.example.com
        parameters: {pool: tp-01}
        reclaimPolicy: Delete
        volumeBindingMode: WaitForFirstConsumer
        allowVolumeExpansion: true
        mountOptions: [noatime]
        allowedTopologies: []
        """,
        "classes/sc.yaml",
    )
    write(
        tmp_path,
        """\
        apiVersion: snapshot.storage.k8s.io/v1
        kind: VolumeSnapshotClass
        metadata: {name: e2e-vsc}
        driver: csi.tidepool.example.com
        deletionPolicy: Delete
        parameters: {incremental: "true"}
        """,
        "classes/vsc.yaml",
    )
    path = write(
        tmp_path,
        """\
        StorageClass:
          FromFile: classes/sc.yaml
        SnapshotClass:
          FromFile: classes/vsc.yaml
        InlineVolumes:
          - Attributes: {a: b}
        ClientNodeName: node-1
        NodeSelectors: {zone: a}
        VolumeAttributesClass: {FromName: true}
        DriverInfo:
          Name: csi.tidepool.example.com
          FeatureTag: "[Feature:Tidepool]"
          MaxFileSize: 1000
          SupportedFsType: {ext4: {}, xfs: {}}
          SupportedMountOption: {noatime: {}}
          TopologyKeys: [topology.tidepool/zone]
          NumAllowedTopologies: 1
          StressTestOptions: {NumPods: 10, NumRestarts: 2}
          PerformanceTestOptions: {ProvisioningOptions: {Count: 5}}
          SupportedSizeRange: {Min: 2Gi, Max: 64Gi}
          Capabilities: {persistence: true, snapshotDataSource: true, RWX: true}
          RequiredAccessModes: [ReadWriteMany]
          VolumeSnapshotStressTestOptions: {NumPods: 4, NumSnapshots: 6}
        Timeouts:
          ClaimProvision: 10m
          SnapshotCreate: 15m
          PodStart: 7m
          PodDelete: 3m
          PVDelete: 4m
          SnapshotDelete: 8m
          DataSourceProvision: 12m
          ClaimProvisionShort: 45s
          Poll: 5s
          ClaimBound: 2m
          PVDeleteSlow: 30m
        """,
        "testdriver.yaml",
    )
    p = load_profile(path)
    assert p.source == str(path)
    assert p.format == "e2e"
    assert p.storage_class == ClassSpec(
        create={
            "parameters": {"pool": "tp-01"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True,
            "mountOptions": ["noatime"],
        }
    )
    assert p.snapshot_class == ClassSpec(create={"parameters": {"incremental": "true"}})
    assert p.capabilities == {"persistence": True, "snapshotDataSource": True, "RWX": True}
    assert p.access_modes == ("ReadWriteMany",)
    assert p.sizes == Sizes(2 * GI, 2 * GI, 64 * GI)
    assert p.stress == Stress(volumes=4, snapshots=6)
    assert p.timeouts == Timeouts(
        claim_provision=600,
        snapshot_ready=900,
        pod_start=420,
        pod_delete=180,
        delete=480,  # the longer of PVDelete and SnapshotDelete
        data_source_provision=720,
        error_status=45,
    )
    assert p.timeouts.clock_skew == Timeouts().clock_skew  # e2e has no such timeout
    assert p.driver_pods == ()


def test_e2e_from_file_absolute_path(tmp_path: Path) -> None:
    sc = write(tmp_path, "kind: StorageClass\nprovisioner: d.example.com\n", "sc.yaml")
    vsc = write(tmp_path, "kind: VolumeSnapshotClass\ndriver: d.example.com\n", "vsc.yaml")
    p = load_profile_text(
        f"StorageClass: {{FromFile: {sc}}}\nSnapshotClass: {{FromFile: {vsc}}}\n"
        "DriverInfo: {Name: d.example.com}\n",
        base_dir=Path("/nonexistent"),
    )
    assert p.storage_class == ClassSpec(create={})
    assert p.snapshot_class == ClassSpec(create={})


def test_e2e_existing_class_and_size_range() -> None:
    p = load_profile_text(
        "StorageClass: {FromExistingClassName: fast}\n"
        "SnapshotClass: {FromName: false, FromExistingClassName: fast-snap}\n"
        "DriverInfo: {Name: d.example.com, SupportedSizeRange: {Min: 1Mi, Max: 512Mi}}\n"
    )
    assert p.storage_class == ClassSpec(name="fast")
    assert p.snapshot_class == ClassSpec(name="fast-snap")
    assert p.sizes == Sizes(MI, 512 * MI, 512 * MI)


def test_e2e_small_max_keeps_min_below_it() -> None:
    p = load_profile_text(E2E_BASE + "  SupportedSizeRange: {Max: 8Mi}\n")
    assert p.sizes == Sizes(8 * MI, 8 * MI, 8 * MI)
    assert p.workload.payload_bytes == 4 * MI


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("Foo: 1\n", "Foo", "unknown key"),
        ("Timeout: {PodStart: 1m}\n", "Timeout", "did you mean Timeouts?"),
        ("driver: x\n", "driver", "a snapconf key in an e2e testdriver.yaml"),
        ("  Capabilites: {}\n", "DriverInfo.Capabilites", "did you mean Capabilities?"),
        ("  name: x\n", "DriverInfo.name", "did you mean Name?"),
        (
            "  Capabilities: {snapshotDatasource: true}\n",
            "DriverInfo.Capabilities.snapshotDatasource",
            "unknown capability, did you mean snapshotDataSource?",
        ),
        ("  Capabilities: {block: yes please}\n", "DriverInfo.Capabilities.block", "true or false"),
        (
            "  SupportedSizeRange: {Min: 1Gigabyte}\n",
            "DriverInfo.SupportedSizeRange.Min",
            "unknown unit",
        ),
        (
            "  SupportedSizeRange: {Min: 2Gi, Max: 1Gi}\n",
            "DriverInfo.SupportedSizeRange.Min",
            "2Gi is more than DriverInfo.SupportedSizeRange.Max 1Gi",
        ),
        (
            "  SupportedSizeRange: {min: 1Gi}\n",
            "DriverInfo.SupportedSizeRange.min",
            "did you mean Min?",
        ),
        ("  RequiredAccessModes: [RWX]\n", "DriverInfo.RequiredAccessModes[0]", "unknown value"),
        (
            "  VolumeSnapshotStressTestOptions: {NumPods: 0}\n",
            "DriverInfo.VolumeSnapshotStressTestOptions.NumPods",
            "at least 1",
        ),
        (
            "  VolumeSnapshotStressTestOptions: {NumVolumes: 2}\n",
            "DriverInfo.VolumeSnapshotStressTestOptions.NumVolumes",
            "unknown key",
        ),
        ("Timeouts: {PodStart: 5 min}\n", "Timeouts.PodStart", "expected a duration"),
        ("Timeouts: {Poll: -2s}\n", "Timeouts.Poll", "cannot be negative"),
        ("Timeouts: {PodStartup: 5m}\n", "Timeouts.PodStartup", "unknown key, did you mean"),
        ("Timeouts: {ClaimProvision: 5M}\n", "Timeouts.ClaimProvision", "expected a duration"),
        ("Timeouts: {SnapshotCreate: true}\n", "Timeouts.SnapshotCreate", "expected a duration"),
        ("Timeouts: {claimProvision: 5m}\n", "Timeouts.claimProvision", "did you mean"),
        ("Timeouts: 5m\n", "Timeouts", "expected a mapping"),
        ("  Capabilities: [block]\n", "DriverInfo.Capabilities", "expected a mapping"),
        (
            "  Capabilities: {FSResizeFromSourceNotSupportd: true}\n",
            "DriverInfo.Capabilities.FSResizeFromSourceNotSupportd",
            "unknown capability, did you mean FSResizeFromSourceNotSupported?",
        ),
        (
            "  RequiredAccessModes: ReadWriteOnce\n",
            "DriverInfo.RequiredAccessModes",
            "expected a non-empty list",
        ),
        ("  SupportedSizeRange: 1Gi\n", "DriverInfo.SupportedSizeRange", "expected a mapping"),
        ("StorageClass2: {FromName: true}\n", "StorageClass2", "did you mean StorageClass?"),
        ("SnapshotClass: {FromName: yes please}\n", "SnapshotClass.FromName", "true or false"),
        ("SnapshotClass: {FromNmae: true}\n", "SnapshotClass.FromNmae", "did you mean FromName?"),
        (
            "SnapshotClass: {FromName: true, FromExistingClassName: x}\n",
            "SnapshotClass",
            "set only one of FromName, FromFile, FromExistingClassName "
            "(got FromName and FromExistingClassName)",
        ),
        (
            "SnapshotClass: {FromExistingClassName: Not_Valid}\n",
            "SnapshotClass.FromExistingClassName",
            "not a valid object name",
        ),
        (
            "SnapshotClass: {FromFile: missing.yaml}\n",
            "SnapshotClass.FromFile",
            "missing.yaml: no such file",
        ),
    ],
)
def test_e2e_errors_name_the_key_path(tmp_path: Path, body: str, path: str, message: str) -> None:
    # A body about the snapshot class brings its own (a key may appear only once).
    base = E2E_NO_SNAPSHOT_CLASS if body.startswith("SnapshotClass:") else E2E_BASE
    err = load_error(tmp_path, base + body, "testdriver.yaml")
    assert err.path == path
    assert message in str(err)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("StorageClass: {FromName: true}\n", "DriverInfo", "required"),
        ("StorageClass: {FromName: true}\nDriverInfo: {}\n", "DriverInfo.Name", "required"),
        ("DriverInfo: {Name: d.example.com}\n", "StorageClass", "snapconf needs a StorageClass"),
        (
            "StorageClass: {FromName: false}\nDriverInfo: {Name: d.example.com}\n",
            "StorageClass",
            "snapconf needs a StorageClass",
        ),
        (
            "StorageClass: {FromName: true}\nDriverInfo: {Name: d.example.com}\n",
            "SnapshotClass",
            "required: snapconf tests snapshots and needs a VolumeSnapshotClass",
        ),
        (
            "StorageClass: {FromName: true}\nSnapshotClass: {FromName: false}\n"
            "DriverInfo: {Name: d.example.com}\n",
            "SnapshotClass",
            "(FromName, FromFile or FromExistingClassName)",
        ),
        (
            "StorageClass: {FromName: true}\nSnapshotClass:\nDriverInfo: {Name: d.example.com}\n",
            "SnapshotClass",
            "required",
        ),
        (
            "StorageClass: {FromName: true}\nDriverInfo: {Name: UPPER}\n",
            "DriverInfo.Name",
            "not a valid CSI driver name",
        ),
    ],
)
def test_e2e_required(tmp_path: Path, text: str, path: str, message: str) -> None:
    err = load_error(tmp_path, text, "testdriver.yaml")
    assert err.path == path
    assert message in str(err)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("kind: VolumeSnapshotClass\n", "sc.yaml: kind: expected StorageClass"),
        ("kind: StorageClass\nprovisioner: other.example.com\n", "is not DriverInfo.Name"),
        (
            "kind: StorageClass\nparameters: {replicas: 3}\n",
            "sc.yaml: parameters.replicas: expected a string, got 3",
        ),
        ("kind: StorageClass\nreclaimPolicy: Keep\n", "reclaimPolicy: unknown value 'Keep'"),
        ("kind: [\n", "sc.yaml: line 2, column 1: invalid YAML"),
        ("- kind: StorageClass\n", "expected a mapping"),
    ],
)
def test_e2e_from_file_errors(tmp_path: Path, manifest: str, message: str) -> None:
    write(tmp_path, manifest, "sc.yaml")
    err = load_error(
        tmp_path, "StorageClass: {FromFile: sc.yaml}\nDriverInfo: {Name: d.example.com}\n"
    )
    assert err.path == "StorageClass.FromFile"
    assert message in str(err)


def test_e2e_snapshot_class_file_driver_must_match(tmp_path: Path) -> None:
    write(tmp_path, "kind: VolumeSnapshotClass\ndriver: other.example.com\n", "vsc.yaml")
    err = load_error(tmp_path, E2E_NO_SNAPSHOT_CLASS + "SnapshotClass: {FromFile: vsc.yaml}\n")
    assert err.path == "SnapshotClass.FromFile"
    assert 'driver: "other.example.com" is not DriverInfo.Name' in str(err)


# ---------------------------------------------------------------- shipped profiles


def test_shipped_profiles_agree() -> None:
    native = load_profile(REPO / "profiles" / "hostpath.yaml")
    e2e = load_profile(REPO / "profiles" / "hostpath-testdriver.yaml")
    assert native.format == "snapconf"
    assert e2e.format == "e2e"
    assert native.driver == e2e.driver == "hostpath.csi.k8s.io"
    assert native.storage_class == e2e.storage_class == ClassSpec(name="csi-hostpath-sc")
    assert native.snapshot_class == e2e.snapshot_class == ClassSpec(name="csi-hostpath-snapclass")
    assert native.wffc_storage_class == ClassSpec(name="csi-hostpath-sc-wffc")
    # both make their VolumeGroupSnapshotClass (the testbed installs none)
    assert native.group_snapshot_class == ClassSpec(create={"parameters": {}})
    assert e2e.group_snapshot_class == ClassSpec(create={})
    assert native.capabilities == e2e.capabilities
    assert native.access_modes == e2e.access_modes
    assert native.sizes == e2e.sizes
    assert native.timeouts == e2e.timeouts
    assert native.stress == e2e.stress == Stress(volumes=3, snapshots=3)


def test_hostpath_profile_contents() -> None:
    p = load_profile(REPO / "profiles" / "hostpath.yaml")
    declared = {name for name, on in p.capabilities.items() if on}
    assert declared >= {
        "persistence",
        "block",
        "exec",
        "snapshotDataSource",
        "pvcDataSource",
        "preProvisionedSnapshot",
        "preProvisionedVolume",
        "controllerExpansion",
        "onlineExpansion",
        "singleNodeVolume",
        "topology",
        "FSResizeFromSourceNotSupported",
        "multipods",
        "groupSnapshot",
    }
    assert p.sizes == Sizes(MI, GI, 10 * GI)
    assert p.timeouts == Timeouts(120, 120, 120, 120, 120, 120, 15)
    assert p.workload == Workload("docker.io/library/busybox:1.35", "IfNotPresent", 16 * MI)


@pytest.mark.parametrize("name", ["hostpath.yaml", "hostpath-testdriver.yaml"])
def test_shipped_profiles_declare_no_fs_resize_from_source(name: str) -> None:
    # hostpath does not grow the file system of a volume restored or cloned to a larger
    # size: the e2e capability FSResizeFromSourceNotSupported, under the same name.
    p = load_profile(REPO / "profiles" / name)
    assert p.capabilities["FSResizeFromSourceNotSupported"] is True
    assert p.has("FSResizeFromSourceNotSupported")


@pytest.mark.parametrize("name", ["hostpath.yaml", "hostpath-testdriver.yaml"])
def test_snapconf_profile_validate_accepts_shipped_profiles(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from conformance import cli

    path = REPO / "profiles" / name
    assert cli.main(["profile", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid profile for driver hostpath.csi.k8s.io" in out
    assert "FSResizeFromSourceNotSupported" in out


def test_snapconf_profile_validate_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conformance import cli

    path = write(tmp_path, MINIMAL + "capabilities: {snapshotDatasource: true}\n")
    assert cli.main(["profile", "validate", str(path)]) == 2
    assert (
        f"{path}: capabilities.snapshotDatasource: unknown capability, "
        "did you mean snapshotDataSource?"
    ) in capsys.readouterr().err


def test_e2e_capabilities_map_one_to_one() -> None:
    p = load_profile_text(
        E2E_BASE + "  Capabilities: {FSResizeFromSourceNotSupported: true, RWX: false}\n"
    )
    assert p.capabilities == {"FSResizeFromSourceNotSupported": True, "RWX": False}


def test_profile_is_frozen() -> None:
    p = load_profile_text(MINIMAL)
    with pytest.raises(AttributeError):
        p.driver = "other"  # type: ignore[misc]
    assert isinstance(p, Profile)
