#include "cloudmeta/record_json.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using cloudmeta::HttpTokens;
using cloudmeta::InstanceRecord;
using cloudmeta::kMaxUserDataBytes;
using cloudmeta::record_from_json;
using cloudmeta::record_to_json;
using cloudmeta::ValidationError;
using nlohmann::json;

namespace {

// A syntactically valid ssh-ed25519 key (the blob names its type, then 32 key bytes).
const char* const kEd25519Key =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f alice@host";

json minimal() { return {{"instance_id", "i-0123456789abcdef0"}, {"ip", "10.0.0.5"}}; }

json with(json body, const json& patch) {
  body.merge_patch(patch);
  return body;
}

// The field a refused body is blamed on, or "accepted".
std::string refused_field(const json& body) {
  try {
    record_from_json(body);
    return "accepted";
  } catch (const ValidationError& e) {
    return e.field();
  }
}

json full() {
  return with(minimal(),
              {
                  {"hostname", "ip-10-0-0-5.eu-central-1.compute.internal"},
                  {"local_hostname", "web-1.internal"},
                  {"local_ipv4", "10.0.0.5"},
                  {"public_hostname", "ec2-203-0-113-9.compute.amazonaws.com"},
                  {"public_ipv4", "203.0.113.9"},
                  {"mac", "0e:49:61:0f:c3:11"},
                  {"ami_id", "ami-0abcdef1234567890"},
                  {"ami_manifest_path", "(unknown)"},
                  {"ami_launch_index", 2},
                  {"reservation_id", "r-0123456789abcdef0"},
                  {"instance_type", "t3.micro"},
                  {"instance_life_cycle", "spot"},
                  {"instance_action", "none"},
                  {"region", "eu-central-1"},
                  {"availability_zone", "eu-central-1b"},
                  {"availability_zone_id", "euc1-az3"},
                  {"account_id", "123456789012"},
                  {"architecture", "arm64"},
                  {"kernel_id", "aki-12345678"},
                  {"ramdisk_id", "ari-12345678"},
                  {"interface_id", "eni-0123456789abcdef0"},
                  {"subnet_id", "subnet-12345678"},
                  {"subnet_ipv4_cidr_block", "10.0.0.0/24"},
                  {"vpc_id", "vpc-0123456789abcdef0"},
                  {"vpc_ipv4_cidr_block", "10.0.0.0/16"},
                  {"secondary_ipv4s", {"10.0.0.6", "10.0.0.7"}},
                  {"ipv6s", {"2001:db8::5"}},
                  {"security_groups", {"default", "web servers"}},
                  {"security_group_ids", {"sg-12345678"}},
                  {"block_device_mapping", {{"ami", "/dev/xvda"}, {"root", "/dev/xvda"}}},
                  {"public_keys", {{"alice", kEd25519Key}}},
                  {"tags", {{"Name", "web 1"}, {"team:owner", "ops@example.com"}, {"Empty", ""}}},
                  {"user_data", "#cloud-config\nhostname: web-1\n"},
                  {"iam",
                   {{"role", "web-role"},
                    {"access_key_id", "ASIAIOSFODNN7EXAMPLE"},
                    {"secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
                    {"token", "IQoJb3JpZ2luX2VjEXAMPLE=="},
                    {"expiration", "2030-01-01T00:00:00Z"}}},
                  {"metadata_options",
                   {{"http_tokens", "required"},
                    {"http_endpoint", "enabled"},
                    {"instance_metadata_tags", "enabled"},
                    {"http_put_response_hop_limit", 2}}},
                  {"extra", {{"services", {{"domain", "amazonaws.com"}, {"partition", "aws"}}}}},
              });
}

}  // namespace

TEST_CASE("a minimal record gets the documented defaults") {
  const InstanceRecord r = record_from_json(minimal());
  CHECK(r.instance_id == "i-0123456789abcdef0");
  CHECK(r.ip == "10.0.0.5");
  CHECK(r.hostname.empty());
  CHECK_FALSE(r.user_data);
  CHECK(r.metadata_options.http_tokens == HttpTokens::kOptional);
  CHECK(r.metadata_options.http_endpoint_enabled);
  CHECK_FALSE(r.metadata_options.instance_metadata_tags);
  CHECK(r.metadata_options.http_put_response_hop_limit == 1);
  CHECK(r.extra == json::object());
}

TEST_CASE("to_json then from_json is the identity") {
  const json in = full();
  const InstanceRecord r = record_from_json(in);
  CHECK(r.tags.at("Name") == "web 1");
  CHECK(r.metadata_options.http_tokens == HttpTokens::kRequired);
  CHECK(r.metadata_options.http_put_response_hop_limit == 2);
  CHECK(r.ami_launch_index == 2);
  const json out = record_to_json(r);
  const json again = record_to_json(record_from_json(out));
  CHECK(again == out);
  // Every input field comes back with the value given.
  for (const auto& item : in.items()) {
    const auto& key = item.key();  // not a structured binding: clang 14 cannot capture one
    const auto& value = item.value();
    CAPTURE(key);
    if (key == "iam" || key == "metadata_options") {
      for (const auto& [k, v] : value.items()) CHECK(out[key][k] == v);
    } else {
      CHECK(out[key] == value);
    }
  }
}

TEST_CASE("every field is present in the output, unset ones empty") {
  const json out = record_to_json(record_from_json(minimal()));
  for (const char* key : {"hostname", "mac", "region", "ami_id", "vpc_ipv4_cidr_block"}) {
    CAPTURE(key);
    CHECK(out.at(key) == "");
  }
  CHECK(out.at("tags") == json::object());
  CHECK(out.at("secondary_ipv4s") == json::array());
  CHECK(out.at("user_data").is_null());
  CHECK(out.at("user_data_base64").is_null());
  CHECK(out.at("iam").at("role") == "");
  CHECK(out.at("metadata_options").at("http_tokens") == "optional");
  CHECK(out.contains("created_at"));
}

TEST_CASE("created_at and updated_at are output-only") {
  InstanceRecord r = record_from_json(minimal());
  r.created_at = "2024-01-01T00:00:00Z";
  r.updated_at = "2024-01-02T00:00:00Z";
  const InstanceRecord back = record_from_json(record_to_json(r));
  CHECK(back.created_at.empty());
  CHECK(back.updated_at.empty());
  CHECK(refused_field(with(minimal(), {{"created_at", 5}})) == "accepted");
}

TEST_CASE("required fields, unknown fields and wrong types are named") {
  CHECK(refused_field(json::array()) == "");
  CHECK(refused_field({{"ip", "10.0.0.1"}}) == "instance_id");
  CHECK(refused_field({{"instance_id", "i-12345678"}}) == "ip");
  CHECK(refused_field(with(minimal(), {{"user_dat", "x"}})) == "user_dat");
  CHECK(refused_field(with(minimal(), {{"iam", {{"rol", "x"}}}})) == "iam.rol");
  CHECK(refused_field(with(minimal(), {{"metadata_options", {{"tokens", "x"}}}})) ==
        "metadata_options.tokens");
  CHECK(refused_field(with(minimal(), {{"hostname", 5}})) == "hostname");
  CHECK(refused_field(with(minimal(), {{"ami_launch_index", "1"}})) == "ami_launch_index");
  CHECK(refused_field(with(minimal(), {{"ami_launch_index", -1}})) == "ami_launch_index");
  CHECK(refused_field(with(minimal(), {{"tags", {"a", "b"}}})) == "tags");
  CHECK(refused_field(with(minimal(), {{"tags", {{"Name", 3}}}})) == "tags.Name");
  CHECK(refused_field(with(minimal(), {{"security_groups", "default"}})) == "security_groups");
  CHECK(refused_field(with(minimal(), {{"iam", "web-role"}})) == "iam");
  CHECK(refused_field(with(minimal(), {{"metadata_options", {{"http_tokens", true}}}})) ==
        "metadata_options.http_tokens");
  CHECK(refused_field(with(minimal(), {{"metadata_options", {{"http_tokens", "maybe"}}}})) ==
        "metadata_options.http_tokens");
  CHECK(refused_field(with(minimal(), {{"secondary_ipv4s", {"10.0.0.6", "fd00::1"}}})) ==
        "secondary_ipv4s[1]");
  CHECK(refused_field(with(minimal(), {{"ipv6s", {"10.0.0.6"}}})) == "ipv6s[0]");
  CHECK(refused_field(with(minimal(), {{"security_group_ids", {"sg-xyz"}}})) ==
        "security_group_ids[0]");
}

TEST_CASE("null clears an optional field") {
  const InstanceRecord r = record_from_json(
      with(minimal(), {{"tags", nullptr}, {"iam", nullptr}, {"hostname", nullptr}}));
  CHECK(r.tags.empty());
  CHECK(r.hostname.empty());
}

TEST_CASE("instance ids and other EC2 resource ids") {
  for (const char* good : {"i-12345678", "i-0123456789abcdef0"}) {
    CAPTURE(good);
    CHECK(refused_field(with(minimal(), {{"instance_id", good}})) == "accepted");
  }
  for (const char* bad : {"i-1234567", "i-0123456789ABCDEF0", "i-0123456789abcdef", "x-12345678",
                          "i-12345678 ", "i-1234567g"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"instance_id", bad}})) == "instance_id");
  }
  CHECK(refused_field(with(minimal(), {{"ami_id", "ami-123"}})) == "ami_id");
  CHECK(refused_field(with(minimal(), {{"reservation_id", "i-12345678"}})) == "reservation_id");
  CHECK(refused_field(with(minimal(), {{"interface_id", "eni-1234567z"}})) == "interface_id");
  CHECK(refused_field(with(minimal(), {{"vpc_id", "subnet-12345678"}})) == "vpc_id");
}

TEST_CASE("addresses are canonicalised") {
  CHECK(record_from_json(with(minimal(), {{"ip", "::ffff:10.0.0.9"}})).ip == "10.0.0.9");
  CHECK(record_from_json(with(minimal(), {{"ip", "FD00:0:0::0001"}})).ip == "fd00::1");
  CHECK(cloudmeta::canonical_ip("2001:DB8::1", "x") == "2001:db8::1");
  CHECK_THROWS_AS(cloudmeta::canonical_ip("10.0.0", "x"), ValidationError);
  for (const char* bad : {"10.0.0", "10.0.0.256", "010.0.0.1", "host", "10.0.0.1/32"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"ip", bad}})) == "ip");
  }
  CHECK(refused_field(with(minimal(), {{"local_ipv4", "fd00::1"}})) == "local_ipv4");
  CHECK(refused_field(with(minimal(), {{"public_ipv4", "1.2.3"}})) == "public_ipv4");
}

TEST_CASE("MAC addresses are lowercased, anything else is refused") {
  CHECK(record_from_json(with(minimal(), {{"mac", "0E:49:61:0F:C3:1A"}})).mac ==
        "0e:49:61:0f:c3:1a");
  for (const char* bad : {"0e-49-61-0f-c3-11", "0e:49:61:0f:c3", "0e:49:61:0f:c3:1g",
                          "0e:49:61:0f:c3:11:22", "0e4961:0f:c3:11"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"mac", bad}})) == "mac");
  }
}

TEST_CASE("interface names are taken as the kernel takes them, and round-trip") {
  for (const char* good : {"vnet3", "tap0", "fc-tap-12", "veth1a2b3c4d5e6", "eth0.100", "x"}) {
    CAPTURE(good);
    const auto record = record_from_json(with(minimal(), {{"interface", good}}));
    CHECK(record.interface == good);
    CHECK(record_to_json(record).at("interface") == good);
  }
  for (const char* bad : {".", "..", "vnet/3", "vnet:3", "vnet 3", "tab\there",
                          "sixteen-chars-xx"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"interface", bad}})) == "interface");
  }
}

TEST_CASE("regions, zones and zone ids") {
  for (const char* good : {"us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"}) {
    CAPTURE(good);
    CHECK(refused_field(with(minimal(),
                             {{"region", good}, {"availability_zone", std::string(good) + "a"}})) ==
          "accepted");
  }
  for (const char* bad : {"US-EAST-1", "us-east", "useast1", "us-east-1a", "-us-1", "us--east-1"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"region", bad}})) == "region");
  }
  CHECK(refused_field(with(minimal(), {{"availability_zone", "us-east-1"}})) ==
        "availability_zone");
  CHECK(refused_field(with(minimal(), {{"availability_zone", "us-east-1ab"}})) ==
        "availability_zone");
  CHECK(refused_field(
            with(minimal(), {{"region", "us-east-1"}, {"availability_zone", "us-west-2a"}})) ==
        "availability_zone");
  CHECK(refused_field(with(minimal(), {{"availability_zone", "us-west-2a"}})) == "accepted");
  CHECK(refused_field(with(minimal(), {{"availability_zone_id", "use1-az6"}})) == "accepted");
  CHECK(refused_field(with(minimal(), {{"availability_zone_id", "us-east-1a"}})) ==
        "availability_zone_id");
}

TEST_CASE("enumerations, account ids, instance types and CIDR blocks") {
  CHECK(refused_field(with(minimal(), {{"architecture", "amd64"}})) == "architecture");
  CHECK(refused_field(with(minimal(), {{"instance_life_cycle", "reserved"}})) ==
        "instance_life_cycle");
  CHECK(refused_field(with(minimal(), {{"instance_action", "reboot"}})) == "instance_action");
  CHECK(refused_field(with(minimal(), {{"account_id", "12345678901"}})) == "account_id");
  CHECK(refused_field(with(minimal(), {{"account_id", "12345678901a"}})) == "account_id");
  CHECK(refused_field(with(minimal(), {{"instance_type", "u-6tb1.metal"}})) == "accepted");
  CHECK(refused_field(with(minimal(), {{"instance_type", "t3"}})) == "instance_type");
  CHECK(refused_field(with(minimal(), {{"instance_type", "T3.micro"}})) == "instance_type");
  CHECK(refused_field(with(minimal(), {{"vpc_ipv4_cidr_block", "172.31.0.0/16"}})) == "accepted");
  for (const char* bad :
       {"10.0.0.0", "10.0.0.0/33", "10.0.0.1/16", "fd00::/8", "10.0.0.0/", "10.0.0.0/x"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"subnet_ipv4_cidr_block", bad}})) ==
          "subnet_ipv4_cidr_block");
  }
}

TEST_CASE("host names") {
  CHECK(refused_field(with(minimal(), {{"hostname", "Web-1.example.com"}})) == "accepted");
  for (const char* bad : {"web_1", "-web", "web-", "a..b", "web 1", "web\n1"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"local_hostname", bad}})) == "local_hostname");
  }
  CHECK(refused_field(with(minimal(), {{"hostname", std::string(64, 'a')}})) == "hostname");
}

TEST_CASE("tags follow the AWS rules for tags exposed in instance metadata") {
  for (const std::string& good :
       std::vector<std::string>{"Name", "a+b-c=d.e,f_g:h@i", std::string(128, 'k'), "x"}) {
    CAPTURE(good);
    CHECK(refused_field(with(minimal(), {{"tags", {{good, "v"}}}})) == "accepted");
  }
  for (const std::string& bad :
       std::vector<std::string>{"a/b", "a b", ".", "..", "_index", "aws:x", "AWS:x", "",
                                std::string(129, 'k'), "caf\xc3\xa9"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"tags", {{bad, "v"}}}})) == "tags." + bad);
  }
  // Value length counts characters, not bytes.
  std::string value_256;
  for (int i = 0; i < 256; ++i) value_256 += "\xc3\xa9";
  CHECK(refused_field(with(minimal(), {{"tags", {{"k", value_256}}}})) == "accepted");
  CHECK(refused_field(with(minimal(), {{"tags", {{"k", value_256 + "x"}}}})) == "tags.k");
}

TEST_CASE("public keys must be OpenSSH public key lines") {
  const InstanceRecord r = record_from_json(
      with(minimal(), {{"public_keys", {{"alice", std::string(kEd25519Key) + "\n"}}}}));
  CHECK(r.public_keys.at("alice") == kEd25519Key);  // a pasted trailing newline is dropped
  for (const std::string bad_name : {"a=b", "a/b", "a\nb"}) {
    CAPTURE(bad_name);
    CHECK(refused_field(with(minimal(), {{"public_keys", {{bad_name, kEd25519Key}}}})) ==
          "public_keys." + bad_name);
  }
  CHECK(refused_field(with(minimal(), {{"public_keys", {{"", kEd25519Key}}}})) == "public_keys.");
  const std::string blob = "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
  for (const std::string& bad_key : std::vector<std::string>{
           "ssh-ed25519", "ssh-foo " + blob, "ssh-rsa " + blob, "ssh-ed25519 not*base64",
           "ssh-ed25519 " + blob + "\nssh-ed25519 " + blob, "-----BEGIN OPENSSH PRIVATE KEY-----",
           "ssh-ed25519 " + blob.substr(0, 12)}) {
    CAPTURE(bad_key);
    CHECK(refused_field(with(minimal(), {{"public_keys", {{"k", bad_key}}}})) == "public_keys.k");
  }
}

TEST_CASE("user_data as text or base64, bounded by the AWS limit") {
  const InstanceRecord text = record_from_json(with(minimal(), {{"user_data", "hello"}}));
  REQUIRE(text.user_data);
  CHECK(*text.user_data == "hello");
  const json out = record_to_json(text);
  CHECK(out["user_data"] == "hello");
  CHECK(out["user_data_base64"] == "aGVsbG8=");

  const InstanceRecord b64 =
      record_from_json(with(minimal(), {{"user_data_base64", "aGVs\nbG8="}}));
  CHECK(*b64.user_data == "hello");
  CHECK(refused_field(with(minimal(), {{"user_data_base64", "aGVsbG8"}})) == "user_data_base64");
  CHECK(refused_field(with(minimal(), {{"user_data_base64", "a*=="}})) == "user_data_base64");
  CHECK(refused_field(with(minimal(), {{"user_data", "hello"}, {"user_data_base64", "aGk="}})) ==
        "user_data_base64");

  InstanceRecord binary = record_from_json(minimal());
  binary.user_data = std::string("\x1f\x8b\x08\x00\xff", 5);
  const json bin_out = record_to_json(binary);
  CHECK(bin_out["user_data"].is_null());
  CHECK(*record_from_json(bin_out).user_data == *binary.user_data);

  CHECK(*record_from_json(with(minimal(), {{"user_data", ""}})).user_data == "");
  const std::string at_limit(kMaxUserDataBytes, 'x');
  CHECK(refused_field(with(minimal(), {{"user_data", at_limit}})) == "accepted");
  CHECK(refused_field(with(minimal(), {{"user_data", at_limit + "x"}})) == "user_data");
  InstanceRecord big = record_from_json(minimal());
  big.user_data = at_limit;
  const std::string encoded = record_to_json(big)["user_data_base64"];
  CHECK(refused_field(with(minimal(), {{"user_data_base64", encoded}})) == "accepted");
  big.user_data = at_limit + "x";
  const std::string too_big = record_to_json(big)["user_data_base64"];
  CHECK(refused_field(with(minimal(), {{"user_data_base64", too_big}})) == "user_data_base64");
  CHECK_THROWS_AS(cloudmeta::validate_record(big), ValidationError);
}

TEST_CASE("iam: role with all four credential fields, or nothing") {
  const json iam = full()["iam"];
  CHECK(refused_field(with(minimal(), {{"iam", {{"access_key_id", "ASIAIOSFODNN7EXAMPLE"}}}})) ==
        "iam.role");
  for (const char* missing : {"access_key_id", "secret_access_key", "token", "expiration"}) {
    CAPTURE(missing);
    json partial = iam;
    partial.erase(missing);
    CHECK(refused_field(with(minimal(), {{"iam", partial}})) == std::string("iam.") + missing);
  }
  CHECK(refused_field(with(minimal(), {{"iam", with(iam, {{"role", "a/b"}})}})) == "iam.role");
  CHECK(refused_field(with(minimal(), {{"iam", with(iam, {{"access_key_id", "AKIA"}})}})) ==
        "iam.access_key_id");
  CHECK(refused_field(with(minimal(), {{"iam", with(iam, {{"token", "a b"}})}})) == "iam.token");
}

TEST_CASE("iam expiration is normalised to UTC seconds") {
  const json iam = full()["iam"];
  auto expiration = [&](const char* text) {
    return record_from_json(with(minimal(), {{"iam", with(iam, {{"expiration", text}})}}))
        .iam.expiration;
  };
  CHECK(expiration("2030-01-01T00:00:00Z") == "2030-01-01T00:00:00Z");
  CHECK(expiration("2030-01-01t00:00:00.123456z") == "2030-01-01T00:00:00Z");
  CHECK(expiration("2030-01-01T01:30:00+02:00") == "2029-12-31T23:30:00Z");
  CHECK(expiration("2028-02-28T23:00:00-01:00") == "2028-02-29T00:00:00Z");
  for (const char* bad :
       {"2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z", "2029-02-29T00:00:00Z",
        "2030-01-01T24:00:00Z", "2030-01-01T00:00:00+0200", "2030-01-01T00:00:00.Z", "tomorrow",
        "2030-01-01 00:00:00Z"}) {
    CAPTURE(bad);
    CHECK(refused_field(with(minimal(), {{"iam", with(iam, {{"expiration", bad}})}})) ==
          "iam.expiration");
  }
}

TEST_CASE("secrets are masked unless asked for") {
  const InstanceRecord r = record_from_json(full());
  const json masked = record_to_json(r, false);
  CHECK(masked["iam"]["secret_access_key"] == "***");
  CHECK(masked["iam"]["token"] == "***");
  CHECK(masked["iam"]["access_key_id"] == "ASIAIOSFODNN7EXAMPLE");
  CHECK(record_to_json(r, true)["iam"]["secret_access_key"] == r.iam.secret_access_key);
  CHECK(record_to_json(record_from_json(minimal()), false)["iam"]["token"] == "");
}

TEST_CASE("metadata_options values and bounds") {
  auto opts = [&](const json& o) { return with(minimal(), {{"metadata_options", o}}); };
  CHECK(refused_field(opts({{"http_put_response_hop_limit", 64}})) == "accepted");
  for (const json& bad : {json(0), json(65), json(1.5), json("2"), json(true)}) {
    CAPTURE(bad);
    CHECK(refused_field(opts({{"http_put_response_hop_limit", bad}})) ==
          "metadata_options.http_put_response_hop_limit");
  }
  const InstanceRecord r = record_from_json(
      opts({{"http_endpoint", "disabled"}, {"instance_metadata_tags", "disabled"}}));
  CHECK_FALSE(r.metadata_options.http_endpoint_enabled);
  CHECK_FALSE(r.metadata_options.instance_metadata_tags);
  CHECK(refused_field(opts({{"http_endpoint", "on"}})) == "metadata_options.http_endpoint");
}

TEST_CASE("extra holds only objects and strings under path-safe names") {
  CHECK(refused_field(with(minimal(), {{"extra", {{"a", {{"b", "c"}}}}}})) == "accepted");
  CHECK(refused_field(with(minimal(), {{"extra", "x"}})) == "extra");
  CHECK(refused_field(with(minimal(), {{"extra", {{"a", {{"b", 1}}}}}})) == "extra.a.b");
  CHECK(refused_field(with(minimal(), {{"extra", {{"a", json::array()}}}})) == "extra.a");
  CHECK(refused_field(with(minimal(), {{"extra", {{"a/b", "c"}}}})) == "extra.a/b");
  CHECK(refused_field(with(minimal(), {{"extra", {{"..", "c"}}}})) == "extra...");
  json deep = "leaf";
  for (int i = 0; i < 12; ++i) deep = json{{"d", deep}};
  CHECK(refused_field(with(minimal(), {{"extra", deep}})).rfind("extra.d", 0) == 0);
}

TEST_CASE("lists and maps refuse empty or multi-line entries") {
  CHECK(refused_field(with(minimal(), {{"security_groups", {""}}})) == "security_groups[0]");
  CHECK(refused_field(with(minimal(), {{"security_groups", {"a\nb"}}})) == "security_groups[0]");
  CHECK(refused_field(with(minimal(), {{"block_device_mapping", {{"root", ""}}}})) ==
        "block_device_mapping.root");
  CHECK(refused_field(with(minimal(), {{"block_device_mapping", {{"a/b", "sda"}}}})) ==
        "block_device_mapping.a/b");
}

TEST_CASE("the error message names the field") {
  try {
    record_from_json(with(minimal(), {{"tags", {{"Name", 3}}}}));
    FAIL("accepted");
  } catch (const ValidationError& e) {
    CHECK(std::string(e.what()).rfind("tags.Name: ", 0) == 0);
  }
}

TEST_CASE("a stored document keeps members this version does not know, a request refuses them") {
  const json doc = with(full(), {{"placement", {{"group_name", "g1"}}},
                                 {"iam", {{"source_identity", "ci"}}},
                                 {"metadata_options", {{"http_protocol_ipv6", "enabled"}}}});
  const InstanceRecord stored = cloudmeta::record_from_stored_json(doc);
  CHECK(stored.unknown_fields == json{{"placement", {{"group_name", "g1"}}},
                                      {"iam", {{"source_identity", "ci"}}},
                                      {"metadata_options", {{"http_protocol_ipv6", "enabled"}}}});
  CHECK(record_to_json(stored) == record_to_json(record_from_json(full())));
  CHECK(record_from_json(full()).unknown_fields == json::object());

  CHECK(refused_field(with(full(), {{"placement", "x"}})) == "placement");
  CHECK(refused_field(with(full(), {{"iam", {{"source_identity", "ci"}}}})) ==
        "iam.source_identity");
  CHECK(refused_field(with(full(), {{"metadata_options", {{"http_protocol_ipv6", "x"}}}})) ==
        "metadata_options.http_protocol_ipv6");
  // A known member with a value this version refuses is still refused, stored or not.
  CHECK_THROWS_AS(cloudmeta::record_from_stored_json(with(full(), {{"architecture", "riscv64"}})),
                  ValidationError);
}

TEST_CASE("a record flagged invalid shows only its columns and the reason, and cannot be sent") {
  InstanceRecord r;
  r.instance_id = "i-0123456789abcdef0";
  r.ip = "10.0.0.5";
  r.hostname = "not shown";
  r.created_at = "2026-01-01T00:00:00Z";
  r.updated_at = "2026-01-02T00:00:00Z";
  r.invalid = InstanceRecord::Undecodable{"the stored document is not JSON", "{"};
  const json shown = record_to_json(r);
  CHECK(shown == json{{"instance_id", "i-0123456789abcdef0"},
                      {"ip", "10.0.0.5"},
                      {"invalid", "the stored document is not JSON"},
                      {"created_at", "2026-01-01T00:00:00Z"},
                      {"updated_at", "2026-01-02T00:00:00Z"}});
  CHECK(record_to_json(r, false) == shown);
  CHECK(refused_field(shown) == "invalid");
}

TEST_CASE("a DHCP guest's record: a mac and no ip, ip_learned needs both and round-trips") {
  const json guest = {{"instance_id", "i-12345678"}, {"mac", "0E:49:61:0F:C3:11"}};
  const InstanceRecord r = record_from_json(guest);
  CHECK(r.ip.empty());
  CHECK(r.mac == "0e:49:61:0f:c3:11");  // canonical: lower case
  CHECK_FALSE(r.ip_learned);
  CHECK(record_to_json(r).at("ip") == "");
  CHECK(record_to_json(r).at("ip_learned") == false);

  const json learned = with(guest, {{"ip", "198.18.0.7"}, {"ip_learned", true}});
  const InstanceRecord back = record_from_json(record_to_json(record_from_json(learned)));
  CHECK(back.ip == "198.18.0.7");
  CHECK(back.ip_learned);

  CHECK(refused_field({{"instance_id", "i-12345678"}, {"interface", "vnet3"}}) == "ip");
  CHECK(refused_field(with(guest, {{"ip_learned", true}})) == "ip_learned");  // no ip
  CHECK(refused_field(with(minimal(), {{"ip_learned", true}})) == "ip_learned");  // no mac
  CHECK(refused_field(with(minimal(), {{"ip_learned", "yes"}})) == "ip_learned");
  CHECK(refused_field(with(guest, {{"mac", "0e:49:61:0f:c3"}})) == "mac");
}

TEST_CASE("state: running by default, stopped when said, nothing else") {
  CHECK(record_from_json(minimal()).state == cloudmeta::InstanceState::kRunning);
  CHECK(record_to_json(record_from_json(minimal()))["state"] == "running");
  const InstanceRecord stopped = record_from_json(with(minimal(), {{"state", "stopped"}}));
  CHECK(stopped.state == cloudmeta::InstanceState::kStopped);
  CHECK(record_to_json(stopped)["state"] == "stopped");
  CHECK(refused_field(with(minimal(), {{"state", "paused"}})) == "state");
  CHECK(refused_field(with(minimal(), {{"state", 1}})) == "state");
}
