"""Runs Debian's python3-botocore IMDS clients (InstanceMetadataFetcher for the instance-profile
credentials, InstanceMetadataRegionFetcher for the region) with their default endpoint,
http://169.254.169.254, and compares the results with the seeded instance record exactly.

Usage (inside the VM's network namespace, with Debian's /usr/bin/python3):
  botocore_imds.py RECORD_JSON [ipv4|ipv6]

The endpoint mode is resolved by botocore from its configuration, as its credential and region
providers do (AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 -> http://[fd00:ec2::254]/); the
argument (default ipv4) says which mode the caller set, and the check insists botocore saw it.

Each fetcher's HTTP session is wrapped to record the requests botocore sends, so the check can
tell that the token PUT succeeded and that every GET carried the token (IMDSv2), which an
http_tokens=required instance insists on.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks, load_record  # noqa: E402

import botocore  # noqa: E402
import botocore.session  # noqa: E402
from botocore.utils import (  # noqa: E402
    InstanceMetadataFetcher,
    InstanceMetadataRegionFetcher,
    resolve_imds_endpoint_mode,
)


def record_requests(fetcher):
    sent = []
    real_send = fetcher._session.send

    def send(request):
        response = real_send(request)
        sent.append((request.method, request.url, "x-aws-ec2-metadata-token" in request.headers,
                     response.status_code))
        return response

    fetcher._session.send = send
    return sent


def check_token_flow(c, what, sent, base):
    puts = [s for s in sent if s[0] == "PUT"]
    gets = [s for s in sent if s[0] == "GET"]
    c.eq(f"{what}: one token PUT to /latest/api/token answered 200",
         [("PUT", base + "latest/api/token", False, 200)], puts)
    c.true(f"{what}: every GET carried the token and got 200",
           gets and all(s[2] and s[3] == 200 for s in gets), repr(gets))


def main():
    record = load_record(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "ipv4"
    c = Checks(f"botocore {botocore.__version__} ({record['metadata_options']['http_tokens']}, "
               f"{mode})")
    # The default endpoint, as on EC2: no override may leak in from the caller's environment.
    c.eq("AWS_EC2_METADATA_SERVICE_ENDPOINT unset", None,
         os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"))
    config = {"ec2_metadata_service_endpoint_mode":
              resolve_imds_endpoint_mode(botocore.session.get_session())}
    c.eq("endpoint mode botocore resolved", mode, config["ec2_metadata_service_endpoint_mode"])
    base = "http://[fd00:ec2::254]/" if mode == "ipv6" else "http://169.254.169.254/"

    creds_fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=2, config=config)
    c.eq("default base url", base, creds_fetcher.get_base_url())
    sent = record_requests(creds_fetcher)
    creds = creds_fetcher.retrieve_iam_role_credentials()
    iam = record["iam"]
    c.eq("role_name", iam["role"], creds.get("role_name"))
    c.eq("access_key", iam["access_key_id"], creds.get("access_key"))
    c.eq("secret_key", iam["secret_access_key"], creds.get("secret_key"))
    c.eq("token", iam["token"], creds.get("token"))
    c.eq("expiry_time", iam["expiration"], creds.get("expiry_time"))
    check_token_flow(c, "credentials", sent, base)
    c.eq("credentials: listing then role document",
         [base + "latest/meta-data/iam/security-credentials/",
          base + "latest/meta-data/iam/security-credentials/" + iam["role"]],
         [s[1] for s in sent if s[0] == "GET"])

    region_fetcher = InstanceMetadataRegionFetcher(timeout=2, num_attempts=2, config=config)
    sent = record_requests(region_fetcher)
    c.eq("region", record["region"], region_fetcher.retrieve_region())
    check_token_flow(c, "region", sent, base)
    c.finish()


if __name__ == "__main__":
    main()
