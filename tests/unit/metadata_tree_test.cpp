// render(): the tree a VM reads, byte for byte where AWS's format is known (imds-reference §1).
#include "cloudmeta/metadata_tree.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cloudmeta/record_json.hpp"
#include "metadata/aws_json.hpp"

using cloudmeta::ContentType;
using cloudmeta::InstanceRecord;
using cloudmeta::Node;
using cloudmeta::RenderedInstance;
using cloudmeta::ValidationError;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* kMac = "0e:57:df:73:29:1f";  // defaults::mac_address of the id below

InstanceRecord minimal(std::string ip = "10.0.0.1") {
  InstanceRecord r;
  r.instance_id = "i-0123456789abcdef0";
  r.ip = std::move(ip);
  r.created_at = "2024-05-01T10:20:30Z";
  r.updated_at = "2024-05-02T11:00:00.5Z";
  return r;
}

std::string mac_path(const std::string& key) {
  return std::string("meta-data/network/interfaces/macs/") + kMac + "/" + key;
}

// The body at `path`, or a marker that fails any comparison with a real body.
std::string body(const RenderedInstance& tree, std::string_view path) {
  const Node* node = tree.find(path);
  return node ? node->body : "<absent: " + std::string(path) + ">";
}

bool has(const RenderedInstance& tree, std::string_view path) { return tree.find(path) != nullptr; }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

std::string field_of(const InstanceRecord& r) {
  try {
    cloudmeta::render(r);
  } catch (const ValidationError& e) {
    return e.field();
  }
  return "<rendered>";
}

}  // namespace

TEST_CASE("version root lists its children without '/', user-data only when set") {
  InstanceRecord r = minimal();
  auto tree = cloudmeta::render(r);
  CHECK(body(*tree, "") == "dynamic\nmeta-data");
  CHECK(tree->find("")->is_dir);
  CHECK_FALSE(has(*tree, "user-data"));

  r.user_data = std::string("#!/bin/sh\n\x00\xff", 12);
  tree = cloudmeta::render(r);
  CHECK(body(*tree, "") == "dynamic\nmeta-data\nuser-data");
  const Node* ud = tree->find("user-data");
  REQUIRE(ud);
  CHECK(ud->body == *r.user_data);
  CHECK(ud->content_type == ContentType::kOctetStream);
  CHECK_FALSE(ud->is_dir);

  r.user_data = "";  // present but empty is still served (200, empty body)
  CHECK(body(*cloudmeta::render(r), "user-data").empty());
  CHECK(tree->instance_id() == "i-0123456789abcdef0");
}

TEST_CASE("listings: sorted, one per line, directories end in '/', no trailing newline") {
  const auto tree = cloudmeta::render(minimal());
  struct Case {
    std::string path, listing;
  };
  for (const Case& c : std::vector<Case>{
           {"meta-data",
            "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nevents/\n"
            "hostname\ninstance-action\ninstance-id\ninstance-life-cycle\ninstance-type\n"
            "local-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/\nreservation-id\n"
            "security-groups\nservices/"},
           {"meta-data/block-device-mapping", "ami\nroot"},
           {"meta-data/events", "maintenance/"},
           {"meta-data/events/maintenance", "scheduled"},
           {"meta-data/network", "interfaces/"},
           {"meta-data/network/interfaces", "macs/"},
           {"meta-data/network/interfaces/macs", std::string(kMac) + "/"},
           {"meta-data/network/interfaces/macs/" + std::string(kMac),
            "device-number\ninterface-id\nlocal-hostname\nlocal-ipv4s\nmac\nowner-id\n"
            "security-group-ids\nsecurity-groups\nsubnet-id\nsubnet-ipv4-cidr-block\nvpc-id\n"
            "vpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks"},
           {"meta-data/placement", "availability-zone\navailability-zone-id\nregion"},
           {"meta-data/services", "domain\npartition"},
           {"dynamic", "fws/\ninstance-identity/"},
           {"dynamic/fws", "instance-monitoring"},
           {"dynamic/instance-identity", "document\npkcs7\nrsa2048\nsignature"},
       }) {
    CAPTURE(c.path);
    const Node* node = tree->find(c.path);
    REQUIRE(node);
    CHECK(node->is_dir);
    CHECK(node->content_type == ContentType::kTextPlain);
    CHECK(node->body == c.listing);
  }
}

TEST_CASE("every listed child exists and every node is listed by its parent") {
  InstanceRecord r = minimal();
  r.public_keys = {{"alice", "ssh-ed25519 AAAA alice"}};
  r.iam.role = "web";
  r.tags = {{"Name", "web-1"}};
  r.metadata_options.instance_metadata_tags = true;
  r.user_data = "x";
  r.public_ipv4 = "203.0.113.9";
  r.extra = json{{"custom", {{"deep", {{"leaf", "v"}}}}}};
  const auto tree = cloudmeta::render(r);
  for (const auto& entry : tree->nodes()) {
    const auto& [path, node] = entry;
    CAPTURE(entry.first);  // doctest's CAPTURE is a lambda: clang 14 cannot capture a binding
    if (node.is_dir) {
      CHECK_FALSE(node.body.empty());
      CHECK(node.body.back() != '\n');
      for (std::string child : lines(node.body)) {
        if (path == "meta-data/public-keys") child = child.substr(0, child.find('='));
        const bool child_is_dir = !child.empty() && child.back() == '/';
        if (child_is_dir) child.pop_back();
        const Node* found = tree->find(path.empty() ? child : path + "/" + child);
        CAPTURE(child);
        REQUIRE(found);
        // The root lists directories without '/', elsewhere the slash marks them.
        if (!path.empty() && path != "meta-data/public-keys") {
          CHECK(found->is_dir == child_is_dir);
        }
      }
    }
    if (path.empty()) continue;
    const auto slash = path.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
    const Node* p = tree->find(parent);
    REQUIRE(p);
    if (parent == "meta-data/public-keys") {
      CHECK(body(*tree, parent) == "0=alice");
      continue;
    }
    if (node.is_dir && !parent.empty()) name += '/';
    const auto listed = lines(p->body);
    CHECK(std::find(listed.begin(), listed.end(), name) != listed.end());
  }
}

TEST_CASE("meta-data leaves of a minimal IPv4 record") {
  const auto tree = cloudmeta::render(minimal());
  struct Case {
    std::string path, value;
  };
  for (const Case& c : std::vector<Case>{
           {"meta-data/ami-id", "ami-00000000000000000"},
           {"meta-data/ami-launch-index", "0"},
           {"meta-data/ami-manifest-path", "(unknown)"},
           {"meta-data/block-device-mapping/ami", "/dev/xvda"},
           {"meta-data/block-device-mapping/root", "/dev/xvda"},
           {"meta-data/events/maintenance/scheduled", "[]"},
           {"meta-data/hostname", "ip-10-0-0-1.ec2.internal"},
           {"meta-data/instance-action", "none"},
           {"meta-data/instance-id", "i-0123456789abcdef0"},
           {"meta-data/instance-life-cycle", "on-demand"},
           {"meta-data/instance-type", "t3.micro"},
           {"meta-data/local-hostname", "ip-10-0-0-1.ec2.internal"},
           {"meta-data/local-ipv4", "10.0.0.1"},
           {"meta-data/mac", kMac},
           {"meta-data/placement/availability-zone", "us-east-1a"},
           {"meta-data/placement/availability-zone-id", "use1-az1"},
           {"meta-data/placement/region", "us-east-1"},
           {"meta-data/reservation-id", "r-e56aff8caa5075afb"},
           {"meta-data/security-groups", "default"},
           {"meta-data/services/domain", "amazonaws.com"},
           {"meta-data/services/partition", "aws"},
           {mac_path("device-number"), "0"},
           {mac_path("interface-id"), "eni-07b7c6a3c689d3d5a"},
           {mac_path("local-hostname"), "ip-10-0-0-1.ec2.internal"},
           {mac_path("local-ipv4s"), "10.0.0.1"},
           {mac_path("mac"), kMac},
           {mac_path("owner-id"), "000000000000"},
           {mac_path("security-groups"), "default"},
           {mac_path("security-group-ids"), "sg-ee8b0ea1fa12f6d58"},
           {mac_path("subnet-id"), "subnet-c4a13b10feb9a7749"},
           {mac_path("subnet-ipv4-cidr-block"), "10.0.0.0/24"},
           {mac_path("vpc-id"), "vpc-cd56226fb646c725f"},
           {mac_path("vpc-ipv4-cidr-block"), "10.0.0.0/16"},
           {mac_path("vpc-ipv4-cidr-blocks"), "10.0.0.0/16"},
           {"dynamic/fws/instance-monitoring", "disabled"},
       }) {
    CAPTURE(c.path);
    const Node* node = tree->find(c.path);
    REQUIRE(node);
    CHECK_FALSE(node->is_dir);
    CHECK(node->content_type == ContentType::kTextPlain);
    CHECK(node->body == c.value);
  }
  // AWS answers 404 for these on an instance without them.
  for (const char* absent :
       {"meta-data/public-keys", "meta-data/public-hostname", "meta-data/public-ipv4",
        "meta-data/iam", "meta-data/tags", "meta-data/ipv6", "meta-data/kernel-id",
        "meta-data/ramdisk-id", "user-data", "meta-data/", "/meta-data", "latest/meta-data"}) {
    CAPTURE(absent);
    CHECK_FALSE(has(*tree, absent));
  }
  for (const char* absent : {"public-hostname", "public-ipv4s", "ipv6s", "ipv4-associations"}) {
    CAPTURE(absent);
    CHECK_FALSE(has(*tree, mac_path(absent)));
  }
}

TEST_CASE("record values and multi-valued leaves") {
  InstanceRecord r = minimal();
  r.ami_launch_index = 3;
  r.public_hostname = "ec2-203-0-113-9.compute-1.amazonaws.com";
  r.public_ipv4 = "203.0.113.9";
  r.secondary_ipv4s = {"10.0.0.2", "10.0.0.3"};
  r.ipv6s = {"2001:db8::1", "2001:db8::2"};
  r.security_groups = {"web", "ssh"};
  r.security_group_ids = {"sg-1", "sg-2"};
  r.kernel_id = "aki-1";
  r.ramdisk_id = "ari-1";
  r.region = "cn-north-1";
  r.block_device_mapping = {{"ebs1", "sdb"}, {"root", "/dev/sda1"}};
  const auto tree = cloudmeta::render(r);
  struct Case {
    std::string path, value;
  };
  for (const Case& c : std::vector<Case>{
           {"meta-data/ami-launch-index", "3"},
           {"meta-data/public-hostname", "ec2-203-0-113-9.compute-1.amazonaws.com"},
           {"meta-data/public-ipv4", "203.0.113.9"},
           {"meta-data/ipv6", "2001:db8::1"},
           {"meta-data/kernel-id", "aki-1"},
           {"meta-data/ramdisk-id", "ari-1"},
           {"meta-data/security-groups", "web\nssh"},
           {"meta-data/services/domain", "amazonaws.com.cn"},
           {"meta-data/services/partition", "aws-cn"},
           {"meta-data/placement/availability-zone", "cn-north-1a"},
           {"meta-data/hostname", "ip-10-0-0-1.cn-north-1.compute.internal"},
           {"meta-data/block-device-mapping", "ami\nebs1\nroot"},
           {"meta-data/block-device-mapping/ami", "/dev/xvda"},
           {"meta-data/block-device-mapping/ebs1", "sdb"},
           {"meta-data/block-device-mapping/root", "/dev/sda1"},
           {mac_path("local-ipv4s"), "10.0.0.1\n10.0.0.2\n10.0.0.3"},
           {mac_path("ipv6s"), "2001:db8::1\n2001:db8::2"},
           {mac_path("public-hostname"), "ec2-203-0-113-9.compute-1.amazonaws.com"},
           {mac_path("public-ipv4s"), "203.0.113.9"},
           {mac_path("ipv4-associations/203.0.113.9"), "10.0.0.1"},
           {mac_path("security-groups"), "web\nssh"},
           {mac_path("security-group-ids"), "sg-1\nsg-2"},
       }) {
    CAPTURE(c.path);
    CHECK(body(*tree, c.path) == c.value);
  }
}

TEST_CASE("IPv6-only record: no local-ipv4, ipv6 from the caller address") {
  const auto tree = cloudmeta::render(minimal("fd00:ec2::10"));
  CHECK_FALSE(has(*tree, "meta-data/local-ipv4"));
  CHECK_FALSE(has(*tree, mac_path("local-ipv4s")));
  CHECK_FALSE(has(*tree, mac_path("subnet-ipv4-cidr-block")));
  CHECK(body(*tree, "meta-data/ipv6") == "fd00:ec2::10");
  CHECK(body(*tree, mac_path("ipv6s")) == "fd00:ec2::10");
  CHECK(body(*tree, "meta-data/local-hostname") == "i-0123456789abcdef0.ec2.internal");
  const auto doc = json::parse(body(*tree, "dynamic/instance-identity/document"));
  CHECK(doc["privateIp"] == "fd00:ec2::10");
}

TEST_CASE("public-keys: `N=name` lines in name order, each with openssh-key") {
  InstanceRecord r = minimal();
  r.public_keys = {{"zed", "ssh-rsa AAAAB3 zed@host"}, {"alice", "ssh-ed25519 AAAAC3 alice"}};
  const auto tree = cloudmeta::render(r);
  const Node* keys = tree->find("meta-data/public-keys");
  REQUIRE(keys);
  CHECK(keys->is_dir);
  CHECK(keys->body == "0=alice\n1=zed");
  CHECK(body(*tree, "meta-data/public-keys/0") == "openssh-key");
  CHECK(tree->find("meta-data/public-keys/0")->is_dir);
  CHECK(body(*tree, "meta-data/public-keys/0/openssh-key") == "ssh-ed25519 AAAAC3 alice");
  CHECK(body(*tree, "meta-data/public-keys/1/openssh-key") == "ssh-rsa AAAAB3 zed@host");
  CHECK_FALSE(has(*tree, "meta-data/public-keys/2"));
  CHECK(lines(body(*tree, "meta-data")).at(15) == "public-keys/");
}

TEST_CASE("tags are served only with instance_metadata_tags") {
  InstanceRecord r = minimal();
  r.tags = {{"Name", "web-1"}, {"env", "prod"}};
  CHECK_FALSE(has(*cloudmeta::render(r), "meta-data/tags"));
  CHECK_FALSE(has(*cloudmeta::render(r), "meta-data/tags/instance/Name"));

  r.metadata_options.instance_metadata_tags = true;
  const auto tree = cloudmeta::render(r);
  CHECK(body(*tree, "meta-data/tags") == "instance/");
  CHECK(body(*tree, "meta-data/tags/instance") == "Name\nenv");
  CHECK(body(*tree, "meta-data/tags/instance/Name") == "web-1");
  CHECK(body(*tree, "meta-data/tags/instance/env") == "prod");
  CHECK(tree->options().instance_metadata_tags);

  r.tags.clear();  // enabled without tags: nothing to list, nothing that 404s when crawled
  CHECK_FALSE(has(*cloudmeta::render(r), "meta-data/tags"));
}

TEST_CASE("iam: info and credentials exactly as AWS prints them, absent without a role") {
  InstanceRecord r = minimal();
  CHECK_FALSE(has(*cloudmeta::render(r), "meta-data/iam"));

  r.account_id = "123456789012";
  r.iam = {"web-role", "ASIAEXAMPLE", "secret/key+x", "tok==", "2024-05-02T17:00:00Z"};
  const auto tree = cloudmeta::render(r);
  CHECK(body(*tree, "meta-data/iam") == "info\nsecurity-credentials/");
  CHECK(body(*tree, "meta-data/iam/security-credentials") == "web-role");
  CHECK(body(*tree, "meta-data/iam/info") ==
        "{\n"
        "  \"Code\" : \"Success\",\n"
        "  \"LastUpdated\" : \"2024-05-02T11:00:00Z\",\n"
        "  \"InstanceProfileArn\" : \"arn:aws:iam::123456789012:instance-profile/web-role\",\n"
        "  \"InstanceProfileId\" : \"AIPAVNJNODC77NL6B3WU7\"\n"
        "}");
  CHECK(body(*tree, "meta-data/iam/security-credentials/web-role") ==
        "{\n"
        "  \"Code\" : \"Success\",\n"
        "  \"LastUpdated\" : \"2024-05-02T11:00:00Z\",\n"
        "  \"Type\" : \"AWS-HMAC\",\n"
        "  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n"
        "  \"SecretAccessKey\" : \"secret/key+x\",\n"
        "  \"Token\" : \"tok==\",\n"
        "  \"Expiration\" : \"2024-05-02T17:00:00Z\"\n"
        "}");
}

TEST_CASE("iam ARN follows the partition, the profile id is stable per account and role") {
  InstanceRecord r = minimal();
  r.region = "us-gov-west-1";
  r.iam.role = "r";
  const auto info = json::parse(body(*cloudmeta::render(r), "meta-data/iam/info"));
  CHECK(info["InstanceProfileArn"] == "arn:aws-us-gov:iam::000000000000:instance-profile/r");
  const std::string id = info["InstanceProfileId"];
  CHECK(id.size() == 21);
  CHECK(id.starts_with("AIPA"));
  CHECK(json::parse(body(*cloudmeta::render(r), "meta-data/iam/info"))["InstanceProfileId"] == id);
}

TEST_CASE("identity document: exact bytes") {
  InstanceRecord r = minimal("172.31.5.20");
  r.account_id = "123456789012";
  r.availability_zone = "eu-west-1b";
  r.ami_id = "ami-0abcdef1234567890";
  r.instance_type = "m5.large";
  r.architecture = "arm64";
  r.created_at = "2024-05-01T10:20:30.250+00:00";
  const auto tree = cloudmeta::render(r);
  CHECK(body(*tree, "dynamic/instance-identity/document") ==
        "{\n"
        "  \"accountId\" : \"123456789012\",\n"
        "  \"architecture\" : \"arm64\",\n"
        "  \"availabilityZone\" : \"eu-west-1b\",\n"
        "  \"billingProducts\" : null,\n"
        "  \"devpayProductCodes\" : null,\n"
        "  \"marketplaceProductCodes\" : null,\n"
        "  \"imageId\" : \"ami-0abcdef1234567890\",\n"
        "  \"instanceId\" : \"i-0123456789abcdef0\",\n"
        "  \"instanceType\" : \"m5.large\",\n"
        "  \"kernelId\" : null,\n"
        "  \"pendingTime\" : \"2024-05-01T10:20:30Z\",\n"
        "  \"privateIp\" : \"172.31.5.20\",\n"
        "  \"ramdiskId\" : null,\n"
        "  \"region\" : \"eu-west-1\",\n"
        "  \"version\" : \"2017-09-30\"\n"
        "}");

  r.kernel_id = "aki-1";
  r.ramdisk_id = "ari-1";
  r.created_at.clear();  // not stored yet: null rather than an invented time
  const auto doc = json::parse(body(*cloudmeta::render(r), "dynamic/instance-identity/document"));
  CHECK(doc["kernelId"] == "aki-1");
  CHECK(doc["ramdiskId"] == "ari-1");
  CHECK(doc["pendingTime"].is_null());
}

TEST_CASE("extra: adds and overrides leaves under meta-data") {
  InstanceRecord r = minimal();
  r.public_keys = {{"alice", "ssh-ed25519 A alice"}};
  r.extra = json{{"profile", "default-hvm"},
                 {"instance-type", "c7g.metal"},
                 {"placement", {{"group-name", "pg-1"}, {"region", "moon-1"}}},
                 {"public-keys", {{"0", {{"openssh-key", "ssh-ed25519 B bob"}}}}},
                 {"empty", json::object()}};
  const auto tree = cloudmeta::render(r);
  CHECK(body(*tree, "meta-data/profile") == "default-hvm");
  CHECK(body(*tree, "meta-data/instance-type") == "c7g.metal");
  CHECK(body(*tree, "meta-data/placement") ==
        "availability-zone\navailability-zone-id\ngroup-name\nregion");
  CHECK(body(*tree, "meta-data/placement/group-name") == "pg-1");
  CHECK(body(*tree, "meta-data/placement/region") == "moon-1");
  CHECK(body(*tree, "meta-data/public-keys") == "0=alice");
  CHECK(body(*tree, "meta-data/public-keys/0/openssh-key") == "ssh-ed25519 B bob");
  CHECK_FALSE(has(*tree, "meta-data/empty"));
  // Overrides change the leaf only, not what other leaves were derived from.
  CHECK(json::parse(body(*tree, "dynamic/instance-identity/document"))["instanceType"] ==
        "t3.micro");
  const auto meta = lines(body(*tree, "meta-data"));
  CHECK(std::find(meta.begin(), meta.end(), "profile") != meta.end());
}

TEST_CASE("extra: conflicts and bad values name the field") {
  struct Case {
    std::string name;
    json extra;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {"leaf where a built-in directory is", json{{"placement", "x"}}, "extra.placement"},
           {"deep leaf over a directory", json{{"network", {{"interfaces", {{"macs", "x"}}}}}},
            "extra.network.interfaces.macs"},
           {"directory where a built-in leaf is", json{{"instance-id", {{"x", "y"}}}},
            "extra.instance-id"},
           {"directory under a built-in leaf",
            json{{"services", {{"domain", {{"a", {{"b", "c"}}}}}}}}, "extra.services.domain"},
           {"number", json{{"a", 1}}, "extra.a"},
           {"null", json{{"a", {{"b", nullptr}}}}, "extra.a.b"},
           {"array", json{{"a", json::array({"x"})}}, "extra.a"},
           {"bool", json{{"a", true}}, "extra.a"},
           {"empty name", json{{"", "x"}}, "extra."},
           {"slash in name", json{{"a/b", "x"}}, "extra.a/b"},
           {"dot-dot name", json{{"..", "x"}}, "extra..."},
           {"newline in name", json{{"a", {{"b\nc", "x"}}}}, "extra.a.b\nc"},
           {"new public key path", json{{"public-keys", {{"0", {{"x", "y"}}}}}},
            "extra.public-keys.0.x"},
           {"public-keys as a leaf", json{{"public-keys", "x"}}, "extra.public-keys"},
           {"not an object", json::array(), "extra"},
           {"string at the top", json("x"), "extra"},
       }) {
    CAPTURE(c.name);
    InstanceRecord r = minimal();
    r.extra = c.extra;
    CHECK(field_of(r) == c.field);
  }
}

TEST_CASE("extra: a null extra renders like an empty one") {
  InstanceRecord r = minimal();
  r.extra = nullptr;
  CHECK(field_of(r) == "<rendered>");
  CHECK(cloudmeta::render(r)->nodes().size() == cloudmeta::render(minimal())->nodes().size());
}

TEST_CASE("render is deterministic") {
  InstanceRecord r = minimal();
  r.public_keys = {{"k", "ssh-ed25519 A k"}};
  r.iam.role = "x";
  const auto a = cloudmeta::render(r);
  const auto b = cloudmeta::render(r);
  REQUIRE(a->nodes().size() == b->nodes().size());
  for (const auto& entry : a->nodes()) {
    const auto& [path, node] = entry;
    CAPTURE(entry.first);
    REQUIRE(b->find(path));
    CHECK(b->find(path)->body == node.body);
  }
}

TEST_CASE("aws_pretty_json: Jackson's default pretty printer") {
  struct Case {
    std::string name;
    ordered_json value;
    std::string text;
  };
  for (const Case& c : std::vector<Case>{
           {"empty object", ordered_json::object(), "{ }"},
           {"empty array", ordered_json::array(), "[ ]"},
           {"scalars", ordered_json::array({1, "a", nullptr, true, 2.5}),
            "[ 1, \"a\", null, true, 2.5 ]"},
           {"flat object keeps insertion order", ordered_json{{"b", 1}, {"a", "x"}},
            "{\n  \"b\" : 1,\n  \"a\" : \"x\"\n}"},
           {"nested object indents",
            ordered_json{{"o", {{"k", "v"}}}, {"e", ordered_json::object()}},
            "{\n  \"o\" : {\n    \"k\" : \"v\"\n  },\n  \"e\" : { }\n}"},
           {"objects inside an inline array",
            ordered_json{{"a", ordered_json::array({ordered_json{{"k", 1}}})}},
            "{\n  \"a\" : [ {\n    \"k\" : 1\n  } ]\n}"},
           {"escapes", ordered_json{{"q\"", "a\\b\n/"}}, "{\n  \"q\\\"\" : \"a\\\\b\\n/\"\n}"},
           {"top-level string", ordered_json("s"), "\"s\""},
       }) {
    CAPTURE(c.name);
    CHECK(cloudmeta::aws_pretty_json(c.value) == c.text);
  }
  // Invalid UTF-8 from a record is replaced, never thrown.
  CHECK(cloudmeta::aws_pretty_json(ordered_json(std::string("a\xff"))) == "\"a\xef\xbf\xbd\"");
}
