// The domain XML -> record mapping of `cloudmeta libvirt-hook` (server/hypervisor/).
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "cloudmeta/record_json.hpp"
#include "hypervisor/bounded_input.hpp"
#include "hypervisor/domain_registration.hpp"
#include "hypervisor/instance_types.hpp"

using cloudmeta::hypervisor::DomainRegistration;
using cloudmeta::hypervisor::DomainXmlError;
using cloudmeta::hypervisor::read_domain_xml;
using cloudmeta::hypervisor::record_document;
using cloudmeta::hypervisor::smallest_instance_type;
using nlohmann::json;

namespace {

const char* const kNs = "https://cloudmeta.dev/xmlns/libvirt/1";

// A domain as `virsh dumpxml` writes it, with `metadata` inside <metadata> and `devices` as its
// devices.
std::string domain(const std::string& metadata, const std::string& devices = "",
                   const std::string& size = "<memory unit='KiB'>1048576</memory><vcpu>1</vcpu>",
                   const std::string& uuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0") {
  return "<domain type='test'>\n  <name>vm1</name>\n  <uuid>" + uuid + "</uuid>\n" + size +
         "\n  <metadata>\n" + metadata + "\n  </metadata>\n  <os><type>hvm</type></os>\n"
         "  <devices>\n" + devices + "\n  </devices>\n</domain>\n";
}

std::string element(const std::string& children, const std::string& attributes = "") {
  return std::string("<cloudmeta:instance xmlns:cloudmeta=\"") + kNs + "\"" + attributes + ">" +
         children + "</cloudmeta:instance>";
}

const std::string kIp = "<cloudmeta:ip>198.18.0.11</cloudmeta:ip>";

std::string nic(const std::string& mac, const std::string& bridge, const std::string& dev) {
  return "<interface type='bridge'><mac address='" + mac + "'/><source bridge='" + bridge +
         "'/>" + (dev.empty() ? "" : "<target dev='" + dev + "'/>") +
         "<model type='virtio'/></interface>";
}

std::string error_of(const std::string& xml, const std::string& bridge = "") {
  try {
    read_domain_xml(xml, bridge);
  } catch (const DomainXmlError& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("libvirt hook: the instance id is i- and the UUID's first 17 hex digits") {
  const DomainRegistration d = read_domain_xml(domain(element(kIp)), "");
  CHECK(d.instance_id == "i-4dea22b31d52d8f32");
  CHECK(d.name == "vm1");
  CHECK(d.opted_in);
  // libvirt accepts upper case and no dashes on define; the id is the same.
  CHECK(read_domain_xml(domain(element(kIp), "", "", "4DEA22B31D52D8F32516782E98AB3FA0"), "")
            .instance_id == "i-4dea22b31d52d8f32");
  CHECK(error_of(domain(element(kIp), "", "", "4dea22b3-1d52")).find("<uuid>") == 0);
  CHECK(error_of(domain(element(kIp), "", "", "zzea22b3-1d52-d8f3-2516-782e98ab3fa0"))
            .find("<uuid>") == 0);
}

TEST_CASE("libvirt hook: a domain without the cloudmeta element is not registered") {
  const DomainRegistration d = read_domain_xml(domain("<other:x xmlns:other='urn:x'/>"), "");
  CHECK_FALSE(d.opted_in);
  CHECK(d.declared.empty());
  // The prefix is the domain author's; the namespace decides. An element named
  // cloudmeta:instance in another namespace is someone else's.
  CHECK(read_domain_xml(domain(std::string("<cm:instance xmlns:cm='") + kNs + "'>"
                               "<cm:ip>198.18.0.11</cm:ip></cm:instance>"), "")
            .declared == json{{"ip", "198.18.0.11"}});
  CHECK_FALSE(read_domain_xml(domain("<cloudmeta:instance xmlns:cloudmeta='urn:other'>"
                                     "<cloudmeta:bogus/></cloudmeta:instance>"), "")
                  .opted_in);
}

TEST_CASE("libvirt hook: the host name comes from <name>, unless the element gives one") {
  CHECK(read_domain_xml(domain(element(kIp)), "").derived["hostname"] == "vm1");
  const std::string named = domain(element(kIp + "<cloudmeta:hostname>web.example</cloudmeta:hostname>"));
  const DomainRegistration d = read_domain_xml(named, "");
  CHECK_FALSE(d.derived.contains("hostname"));
  CHECK(record_document(d, nullptr)["hostname"] == "web.example");
  std::string bad = domain(element(kIp));
  bad.replace(bad.find("vm1"), 3, "my vm");
  CHECK(error_of(bad).find("is not a host name") != std::string::npos);
}

TEST_CASE("libvirt hook: the interface on LIBVIRT_HOOK_BRIDGE gives mac and interface") {
  const std::string devices = nic("52:54:00:00:00:01", "virbr0", "vnet0") +
                              nic("52:54:00:AA:00:02", "virbr-md", "vnet7") +
                              nic("52:54:00:00:00:03", "virbr-md", "vnet8");
  const std::string xml = domain(element(kIp), devices);
  CHECK(read_domain_xml(xml, "virbr-md").binding ==
        json{{"mac", "52:54:00:AA:00:02"}, {"interface", "vnet7"}});
  CHECK(read_domain_xml(xml, "").binding ==
        json{{"mac", "52:54:00:00:00:01"}, {"interface", "vnet0"}});
  // The record rules make the MAC canonical (lower case) when the server stores it.
  CHECK(cloudmeta::record_from_json(record_document(read_domain_xml(xml, "virbr-md"), nullptr))
            .mac == "52:54:00:aa:00:02");
  CHECK(error_of(xml, "br-other").find("bridge br-other") != std::string::npos);
  // Before libvirt named the tap (the `prepare` XML), only the MAC.
  CHECK(read_domain_xml(domain(element(kIp), nic("52:54:00:00:00:09", "virbr-md", "")), "")
            .binding == json{{"mac", "52:54:00:00:00:09"}});
  // No interface at all, no bridge asked for: no binding.
  CHECK(read_domain_xml(domain(element(kIp)), "").binding.empty());
}

TEST_CASE("libvirt hook: the instance type is the smallest that covers vCPUs and memory") {
  CHECK(smallest_instance_type(1, 512) == "t3.nano");
  CHECK(smallest_instance_type(2, 513) == "t3.micro");
  CHECK(smallest_instance_type(4, 2048) == "t3.xlarge");
  CHECK(smallest_instance_type(8, 32 * 1024) == "t3.2xlarge");
  CHECK(smallest_instance_type(9, 1024) == "m5.4xlarge");
  CHECK(smallest_instance_type(96, 384 * 1024) == "m5.24xlarge");
  CHECK(smallest_instance_type(97, 1024).empty());
  CHECK(smallest_instance_type(2, 384 * 1024 + 1).empty());

  const auto type_of = [](const std::string& size) {
    const DomainRegistration d = read_domain_xml(domain(element(kIp), "", size), "");
    return d.derived.value("instance_type", std::string("(none)"));
  };
  CHECK(type_of("<memory unit='KiB'>1048576</memory><vcpu>1</vcpu>") == "t3.micro");
  CHECK(type_of("<memory>1048577</memory><vcpu>2</vcpu>") == "t3.small");  // KiB by default
  CHECK(type_of("<memory unit='GiB'>4</memory><vcpu placement='static'>2</vcpu>") == "t3.medium");
  CHECK(type_of("<memory unit='G'>16</memory><vcpu current='4'>16</vcpu>") == "t3.xlarge");
  CHECK(type_of("<memory unit='MB'>1000</memory><vcpu>1</vcpu>") == "t3.micro");
  CHECK(type_of("<memory unit='b'>536870912</memory><vcpu>1</vcpu>") == "t3.nano");
  CHECK(type_of("<memory unit='TiB'>1</memory><vcpu>1</vcpu>") == "(none)");
  CHECK(type_of("<memory unit='KiB'>1048576</memory>") == "(none)");  // no <vcpu>
  CHECK(error_of(domain(element(kIp), "", "<memory unit='parsec'>1</memory><vcpu>1</vcpu>"))
            .find("<memory>") == 0);
  CHECK(error_of(domain(element(kIp), "",
                        "<memory unit='TiB'>99999999999999999</memory><vcpu>1</vcpu>"))
            .find("too large") != std::string::npos);
  // The element's own instance-type wins over the table.
  const DomainRegistration d = read_domain_xml(
      domain(element(kIp + "<cloudmeta:instance-type>c5.large</cloudmeta:instance-type>")), "");
  CHECK(record_document(d, nullptr)["instance_type"] == "c5.large");
}

TEST_CASE("libvirt hook: the cloudmeta element's fields become record fields") {
  const std::string children =
      kIp +
      "<cloudmeta:region>eu-west-1</cloudmeta:region>"
      "<cloudmeta:availability-zone>eu-west-1b</cloudmeta:availability-zone>"
      "<cloudmeta:tag key='env'>dev</cloudmeta:tag><cloudmeta:tag key='Name'> web one </cloudmeta:tag>"
      "<cloudmeta:public-key name='alice'>\n  ssh-ed25519 "
      "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f alice@host\n"
      "</cloudmeta:public-key>"
      "<cloudmeta:security-group>web</cloudmeta:security-group>"
      "<cloudmeta:user-data>\n    #cloud-config\n    hostname: vm1\n  </cloudmeta:user-data>"
      "<cloudmeta:iam role='web' access-key-id='ASIAEXAMPLEEXAMPLE12' secret-access-key='s3cr3t'"
      " token='tok' expiration='2030-01-01T00:00:00Z'/>"
      "<cloudmeta:metadata-options http-tokens='required' http-put-response-hop-limit='2'/>"
      "<other:note xmlns:other='urn:other'>not ours</other:note>";
  const DomainRegistration d = read_domain_xml(domain(element(children)), "");
  CHECK(d.declared["region"] == "eu-west-1");
  CHECK(d.declared["tags"] == json{{"env", "dev"}, {"Name", "web one"}});
  CHECK(d.declared["public_keys"]["alice"].get<std::string>().find("ssh-ed25519 ") == 0);
  CHECK(d.declared["security_groups"] == json::array({"web"}));
  // The indentation all lines share is the XML's, not the script's; deeper lines keep the rest.
  CHECK(d.declared["user_data"] == "#cloud-config\nhostname: vm1\n");
  CHECK(d.declared["iam"]["role"] == "web");
  CHECK(d.declared["metadata_options"] ==
        json{{"http_tokens", "required"}, {"http_put_response_hop_limit", 2}});
  const cloudmeta::InstanceRecord r = cloudmeta::record_from_json(record_document(d, nullptr));
  CHECK(r.ip == "198.18.0.11");
  CHECK(r.instance_id == "i-4dea22b31d52d8f32");
  CHECK(r.metadata_options.http_tokens == cloudmeta::HttpTokens::kRequired);
  CHECK(r.metadata_options.http_put_response_hop_limit == 2);
  CHECK_FALSE(d.overwrite);
  CHECK(read_domain_xml(domain(element(kIp, " overwrite='true'")), "").overwrite);
}

TEST_CASE("libvirt hook: inline user-data loses the XML's indentation, not its own") {
  const auto inline_user_data = [](const std::string& text) {
    return read_domain_xml(domain(element(kIp + "<cloudmeta:user-data>" + text +
                                          "</cloudmeta:user-data>")), "")
        .declared["user_data"]
        .get<std::string>();
  };
  CHECK(inline_user_data("\n      #cloud-config\n      runcmd:\n        - [ls]\n\n      a: 1\n    ") ==
        "#cloud-config\nruncmd:\n  - [ls]\n\na: 1\n");
  CHECK(inline_user_data("#!/bin/sh\necho hi") == "#!/bin/sh\necho hi\n");
  CHECK(inline_user_data("<![CDATA[#!/bin/sh\n[ 1 -lt 2 ] && echo <ok>]]>") ==
        "#!/bin/sh\n[ 1 -lt 2 ] && echo <ok>\n");
}

TEST_CASE("libvirt hook: user-data as base64 or from a file name") {
  const DomainRegistration b64 = read_domain_xml(
      domain(element(kIp + "<cloudmeta:user-data encoding='base64'>\n  I2Nsb3Vk\n  LWNvbmZpZwo=\n"
                           "</cloudmeta:user-data>")), "");
  CHECK(cloudmeta::record_from_json(record_document(b64, nullptr)).user_data ==
        std::string("#cloud-config\n"));
  const DomainRegistration file = read_domain_xml(
      domain(element(kIp + "<cloudmeta:user-data file='vm1.yaml'/>")), "");
  CHECK(file.user_data_file == "vm1.yaml");
  CHECK_FALSE(file.declared.contains("user_data"));
  const std::string bytes("\x00\xff#!", 4);
  CHECK(cloudmeta::record_from_json(record_document(file, &bytes)).user_data == bytes);
  // Only a plain name, read from LIBVIRT_HOOK_USER_DATA_DIR: no path elsewhere on the host.
  for (const char* name : {"../etc/shadow", "/etc/shadow", ".hidden", "a b", ""}) {
    CAPTURE(name);
    CHECK(error_of(domain(element(kIp + "<cloudmeta:user-data file='" + name + "'/>")))
              .find("<cloudmeta:user-data>") == 0);
  }
  CHECK(error_of(domain(element(kIp + "<cloudmeta:user-data>a</cloudmeta:user-data>"
                                      "<cloudmeta:user-data>b</cloudmeta:user-data>")))
            .find("given twice") != std::string::npos);
  // Larger than AWS's 16 KiB: the record rules refuse it before anything is sent.
  CHECK(error_of(domain(element(kIp + "<cloudmeta:user-data>" + std::string(17000, 'x') +
                                "</cloudmeta:user-data>")))
            .find("user_data") == 0);
}

TEST_CASE("libvirt hook: what the record rules or the element's shape refuse is an error") {
  CHECK(error_of(domain(element(kIp + "<cloudmeta:region>Mars</cloudmeta:region>")))
            .find("region: ") == 0);
  CHECK(error_of(domain(element("<cloudmeta:ip>not-an-ip</cloudmeta:ip>"))).find("ip: ") == 0);
  CHECK(error_of(domain(element(kIp + "<cloudmeta:regoin>eu-west-1</cloudmeta:regoin>")))
            .find("unknown element") != std::string::npos);
  CHECK(error_of(domain(element(kIp + kIp))).find("given twice") != std::string::npos);
  CHECK(error_of(domain(element(kIp + "<cloudmeta:tag>x</cloudmeta:tag>")))
            .find("needs the attribute key") != std::string::npos);
  CHECK(error_of(domain(element(kIp + "<cloudmeta:iam role='web'/>"))).find("iam.") == 0);
  CHECK(error_of(domain(element(kIp + "<cloudmeta:metadata-options http-put-response-hop-limit="
                                      "'x'/>")))
            .find("hop-limit") != std::string::npos);
  CHECK(error_of(domain(element(kIp, " overwrite='yes'"))).find("overwrite") !=
        std::string::npos);
  CHECK(error_of(domain(element(kIp) + element(kIp))).find("two cloudmeta:instance") !=
        std::string::npos);
  CHECK(error_of(domain(element("<cloudmeta:region><b/></cloudmeta:region>")))
            .find("text only") != std::string::npos);
}

TEST_CASE("libvirt hook: XML that is not a well-formed domain is refused, saying where") {
  CHECK(error_of("<domain><name>vm1</name>").find("not well-formed XML") == 0);
  CHECK(error_of("").find("not well-formed XML") == 0);
  CHECK(error_of("<network><name>x</name></network>") == "not a libvirt domain (no <domain>)");
  CHECK(error_of("<domain><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid></domain>") ==
        "<name>: missing");
  // No DTD is read and no entity is expanded: an external entity stays a parse error.
  CHECK(error_of("<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><domain><name>&x;"
                 "</name></domain>")
            .find("accepted") == std::string::npos);
}

TEST_CASE("libvirt hook: standard input is read up to its limit and no further") {
  std::istringstream small(std::string(100, 'x'));
  CHECK(cloudmeta::hypervisor::read_bounded(small, 100, "stdin").size() == 100);
  std::istringstream big(std::string(70000, 'x'));
  CHECK_THROWS_WITH_AS(cloudmeta::hypervisor::read_bounded(big, 65536, "the domain XML"),
                       "the domain XML is larger than 65536 bytes",
                       cloudmeta::hypervisor::InputError);
}
