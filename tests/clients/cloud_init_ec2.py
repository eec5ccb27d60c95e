"""Runs Debian's cloud-init Ec2 datasource (cloudinit.sources.DataSourceEc2) against the metadata
service and compares what it read with the seeded instance record, value for value.

Usage (inside the VM's network namespace, with Debian's /usr/bin/python3):
  cloud_init_ec2.py RECORD_JSON WORK_DIR generic|aws [ipv6]

With ipv6 the datasource keeps its own metadata_urls (http://169.254.169.254 and
http://[fd00:ec2::254], in that order) and must settle on the IPv6 one; the record is an
IPv6-only instance (its ip is the guest's IPv6 address, no IPv4 at all).

Every cloud-init path (cloud_dir, run_dir, ...) is under WORK_DIR: this machine's /etc/cloud and
/var/lib/cloud are never read or written. The cloud name is forced instead of read from DMI:
- generic: cloud-init treats the platform as an unknown EC2-alike and uses plain GETs (IMDSv1);
- aws: cloud-init uses only IMDSv2 (token PUT, no v1 fallback) and also crawls the identity
  document, from which it takes instance-id, availability zone and region.
"""

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks, load_record  # noqa: E402

from cloudinit import distros, helpers  # noqa: E402
from cloudinit.sources import DataSourceEc2  # noqa: E402


def make_datasource(work_dir, cloud_name, ipv6):
    paths = helpers.Paths(
        {
            "cloud_dir": os.path.join(work_dir, "var-lib-cloud"),
            "run_dir": os.path.join(work_dir, "run-cloud-init"),
            "templates_dir": os.path.join(work_dir, "templates"),
            "docs_dir": os.path.join(work_dir, "docs"),
        }
    )
    ec2_cfg = {"strict_id": False, "timeout": 3, "max_wait": 15, "retries": 1}
    if not ipv6:
        ec2_cfg["metadata_urls"] = ["http://169.254.169.254"]
    sys_cfg = {"datasource": {"Ec2": ec2_cfg}}
    distro = distros.fetch("debian")("debian", {}, paths)
    ds = DataSourceEc2.DataSourceEc2(sys_cfg, distro, paths)
    # What DMI identification would have set: "aws" for an ec2-prefixed SMBIOS uuid.
    ds._cloud_name = cloud_name
    return ds


def expected_network_config(record):
    device = {
        "dhcp4": True,
        "dhcp6": bool(record.get("ipv6s")),
        "match": {"macaddress": record["mac"]},
        "set-name": "eth0",
    }
    secondaries = record.get("secondary_ipv4s", [])
    if secondaries:
        prefix = record["subnet_ipv4_cidr_block"].split("/")[1]
        device["addresses"] = sorted(f"{ip}/{prefix}" for ip in secondaries)
    return {"version": 2, "ethernets": {"eth0": device}}


def main():
    record_path, work_dir, mode = sys.argv[1:4]
    ipv6 = sys.argv[4:5] == ["ipv6"]
    record = load_record(record_path)
    logging.basicConfig(
        level=logging.DEBUG, stream=sys.stderr, format="cloud-init %(levelname)s %(message)s"
    )
    cloud_name = {"generic": "unknown", "aws": "aws"}[mode]
    ds = make_datasource(work_dir, cloud_name, ipv6)
    c = Checks(f"cloud-init Ec2 ({mode})")

    c.eq("get_data()", True, ds.get_data())
    if not ds.metadata:
        c.finish()
    c.eq("cloud_name", cloud_name, ds.cloud_name)
    if ipv6:
        c.eq("default metadata_urls try IPv4, then IPv6",
             ["http://169.254.169.254", "http://[fd00:ec2::254]"], ds.metadata_urls[:2])
    c.eq("metadata address", "http://[fd00:ec2::254]" if ipv6 else "http://169.254.169.254",
         ds.metadata_address)
    # The newest version cloud-init 22.4 asks for; the server must accept it.
    c.eq("metadata api version", "2021-03-23", ds._crawled_metadata.get("_metadata_api_version"))
    c.eq("IMDSv2 token held", mode == "aws", bool(ds._api_token))
    c.eq("instance-id", record["instance_id"], ds.get_instance_id())
    c.eq("meta-data instance-id", record["instance_id"], ds.metadata.get("instance-id"))
    c.eq("local-hostname", record["local_hostname"], ds.metadata.get("local-hostname"))
    c.eq("hostname (fqdn)", record["local_hostname"], ds.get_hostname(fqdn=True).hostname)
    c.eq("availability zone", record["availability_zone"], ds.availability_zone)
    c.eq("region", record["region"], ds.region)
    c.eq("public ssh keys", sorted(record["public_keys"].values()),
         sorted(ds.get_public_ssh_keys()))
    expected_ud = record["user_data"].encode("utf-8")
    c.eq("userdata_raw bytes", expected_ud, ds.userdata_raw)
    c.eq("mac", record["mac"], ds.metadata.get("mac"))
    macs = ds.metadata.get("network", {}).get("interfaces", {}).get("macs", {})
    c.eq("network/interfaces/macs", [record["mac"]], list(macs))
    nic = macs.get(record["mac"], {})
    c.eq("mac vpc-id present (not EC2-Classic)", False, ds.is_classic_instance())
    # cloud-init's leaf decoder keeps a one-line value as a string and splits several lines.
    ipv4s = nic.get("local-ipv4s")
    ipv4s = [ipv4s] if isinstance(ipv4s, str) else ipv4s
    if ipv6:
        c.eq("IPv6-only: no local-ipv4s", None, ipv4s)
        c.eq("IPv6-only: no local-ipv4", None, ds.metadata.get("local-ipv4"))
        ipv6s = nic.get("ipv6s")
        c.eq("IPv6-only: ipv6s is the guest's address", [record["ip"]],
             [ipv6s] if isinstance(ipv6s, str) else ipv6s)
        record = dict(record, ipv6s=[record["ip"]])  # what expected_network_config reads
    else:
        c.eq("local-ipv4s", [record["ip"]] + record.get("secondary_ipv4s", []), ipv4s)
    c.eq("network_config", expected_network_config(record), ds.network_config)
    if record.get("metadata_options", {}).get("instance_metadata_tags") == "enabled":
        c.eq("tags/instance", record["tags"], ds.metadata.get("tags", {}).get("instance"))
    else:
        c.eq("no tags without instance_metadata_tags", None, ds.metadata.get("tags"))
    if mode == "aws":
        c.eq("identity document instanceId", record["instance_id"],
             ds.identity.get("instanceId"))
        c.eq("identity document region", record["region"], ds.identity.get("region"))
        c.eq("identity document privateIp", record["ip"], ds.identity.get("privateIp"))
    # The datasource persisted its instance data under WORK_DIR, nowhere else.
    c.true("instance-data.json under the work dir",
           os.path.exists(os.path.join(work_dir, "run-cloud-init", "instance-data.json")))
    c.finish()


if __name__ == "__main__":
    main()
