"""The platform, DMI (firmware) fields and cloud-init's instance data, read from fake roots
in temp dirs as the kernel and cloud-init lay them out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from partout.facts import DmiFacts, Facts, gather, load
from partout.facts.cloud import INSTANCE_DATA, cloud_facts
from partout.facts.system import DMI_DIR, dmi_facts

# what a KVM guest exposes, as root reads it
DMI = {
    "sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)", "product_version": "pc-q35-8.2",
    "product_serial": "SN-1234", "product_uuid": "6f1d3c5e-7a2b-4c8d-9e0f-112233445566",
    "bios_vendor": "SeaBIOS", "bios_version": "1.16.3", "bios_date": "04/01/2014",
    "board_vendor": "Acme", "board_name": "X11", "board_serial": "BSN-9", "chassis_vendor": "QEMU",
    "chassis_type": "1", "chassis_serial": "CSN-7", "chassis_asset_tag": "rack-4",
}


def test_platform_is_the_kind_of_system(tmp_path: Path) -> None:
    assert gather(facts_d=tmp_path).platform == sys.platform == "linux"


def test_dmi_fields_are_read_from_sys_class_dmi(tmp_path: Path) -> None:
    base = tmp_path / DMI_DIR
    base.mkdir(parents=True)
    for name, value in DMI.items():
        (base / name).write_text(value + "\n")
    dmi = dmi_facts(tmp_path)
    assert {name: getattr(dmi, name) for name in DMI} == DMI
    assert dmi.product_sku is None  # not exposed by this firmware


def test_unreadable_dmi_fields_are_left_out_not_errors(tmp_path: Path) -> None:
    base = tmp_path / DMI_DIR
    base.mkdir(parents=True)
    (base / "sys_vendor").write_text("Dell Inc.\n")
    (base / "product_serial").mkdir()  # reading it fails (as EACCES does for a non-root user)
    (base / "product_uuid").symlink_to(base / "gone")
    (base / "board_serial").write_text("   \n")  # firmware that leaves it blank
    dmi = dmi_facts(tmp_path)
    assert dmi.sys_vendor == "Dell Inc."
    assert (dmi.product_serial, dmi.product_uuid, dmi.board_serial) == (None, None, None)


def test_a_machine_without_dmi_has_empty_dmi_facts(tmp_path: Path) -> None:
    assert dmi_facts(tmp_path).model_dump() == {name: None for name in DmiFacts.model_fields}


def instance_data(root: Path, data: object) -> None:
    path = root / INSTANCE_DATA
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))


def test_cloud_facts_come_from_cloud_init_instance_data(tmp_path: Path) -> None:
    instance_data(tmp_path, {
        "v1": {"cloud_name": "aws", "platform": "ec2", "instance_id": "i-0abc", "region": "eu-west-3",
               "availability_zone": "eu-west-3a", "local_hostname": "ip-10-0-0-5"},
        "ds": {"meta_data": {"instance-type": "t3.micro", "ami-id": "ami-1",
                             "iam": {"security-credentials": "redacted for non-root user", "info": {"x": 1}}}},
        "merged_cfg": "redacted for non-root user",
    })
    cloud = cloud_facts(tmp_path)
    assert cloud is not None
    assert (cloud.provider, cloud.platform, cloud.instance_id, cloud.instance_type, cloud.region,
            cloud.availability_zone, cloud.local_hostname) == (
        "aws", "ec2", "i-0abc", "t3.micro", "eu-west-3", "eu-west-3a", "ip-10-0-0-5")
    assert cloud.metadata == {"instance-type": "t3.micro", "ami-id": "ami-1", "iam": {"info": {"x": 1}}}


def test_no_instance_data_means_no_cloud(tmp_path: Path) -> None:
    assert cloud_facts(tmp_path) is None


def test_malformed_instance_data_means_no_cloud(tmp_path: Path) -> None:
    instance_data(tmp_path, ["not", "a", "mapping"])
    assert cloud_facts(tmp_path) is None
    (tmp_path / INSTANCE_DATA).write_text("{broken")
    assert cloud_facts(tmp_path) is None


def test_the_sensitive_instance_data_is_never_read(tmp_path: Path) -> None:
    instance_data(tmp_path, {"v1": {"cloud_name": "nocloud"}})
    (tmp_path / "run/cloud-init/instance-data-sensitive.json").write_text(
        json.dumps({"v1": {"cloud_name": "SECRET"}, "ds": {"meta_data": {"password": "SECRET"}}}))
    cloud = cloud_facts(tmp_path)
    assert cloud is not None and "SECRET" not in cloud.model_dump_json()


def test_this_machine_has_no_cloud_init_data_so_no_cloud(tmp_path: Path) -> None:
    expected = cloud_facts(Path("/"))
    assert gather(facts_d=tmp_path).cloud == expected


def test_platform_dmi_and_cloud_load_back_from_a_facts_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"platform": "linux", "dmi": {"product_serial": "SN-1"},
                                "cloud": {"provider": "gce", "region": "europe-west1"}}))
    facts = load(path)
    assert facts.platform == "linux" and facts.dmi.product_serial == "SN-1"
    assert facts.cloud is not None and facts.cloud.provider == "gce"
    assert Facts.model_validate({}).cloud is None
