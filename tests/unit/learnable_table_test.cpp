// The snapshot's table of DHCP guests (records with a mac and no ip, or a learned one): built
// with the address table, edited copy-on-write beside it, and never consulted by an address
// lookup.
#include "cloudmeta/snapshot.hpp"

#include "cloudmeta/metadata_tree.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace cloudmeta;

namespace {

InstanceRecord guest(int n, bool with_ip = false) {
  char id[32], mac[32], ip[32];
  std::snprintf(id, sizeof id, "i-%017d", n);
  std::snprintf(mac, sizeof mac, "0e:00:00:00:%02x:%02x", (n >> 8) & 0xff, n & 0xff);
  std::snprintf(ip, sizeof ip, "198.18.%d.%d", n / 250, n % 250 + 1);
  InstanceRecord r;
  r.instance_id = id;
  r.mac = mac;
  if (with_ip) r.ip = ip;
  r.created_at = r.updated_at = "2026-12-03T10:00:00Z";
  return r;
}

}  // namespace

TEST_CASE("parse_mac reads the canonical form only") {
  CHECK(parse_mac("0e:49:61:0f:c3:11") == 0x0e49610fc311ull);
  CHECK(parse_mac("ff:ff:ff:ff:ff:ff") == 0xffffffffffffull);
  CHECK_FALSE(parse_mac("0E:49:61:0F:C3:11"));  // records store lower case
  CHECK_FALSE(parse_mac("0e-49-61-0f-c3-11"));
  CHECK_FALSE(parse_mac("0e:49:61:0f:c3"));
  CHECK_FALSE(parse_mac("0e:49:61:0f:c3:1g"));
  CHECK_FALSE(parse_mac(""));
}

TEST_CASE("is_learnable: a mac with no address or a learned one, an operator's address never") {
  InstanceRecord r = guest(1);
  CHECK(is_learnable(r));
  r.ip = "198.18.0.9";
  CHECK_FALSE(is_learnable(r));  // set by an operator
  r.ip_learned = true;
  CHECK(is_learnable(r));
  r.mac.clear();
  CHECK_FALSE(is_learnable(r));
}

TEST_CASE("build indexes learnable records by MAC, and only those") {
  std::vector<InstanceRecord> records;
  records.push_back(guest(1));                    // no address yet
  InstanceRecord learned = guest(2, true);        // a learned address
  learned.ip_learned = true;
  records.push_back(learned);
  records.push_back(guest(3, true));              // an operator's address: not learnable
  const auto snapshot = Snapshot::build(records, 4);
  CHECK(snapshot->size() == 2);  // the two with addresses
  CHECK(snapshot->learnable_table().size() == 2);
  REQUIRE(snapshot->learnable_instance(guest(1).mac) != nullptr);
  CHECK(*snapshot->learnable_instance(guest(1).mac) == guest(1).instance_id);
  REQUIRE(snapshot->learnable_instance(guest(2).mac) != nullptr);
  CHECK(*snapshot->learnable_instance(guest(2).mac) == guest(2).instance_id);
  CHECK(snapshot->learnable_instance(guest(3).mac) == nullptr);
  CHECK(snapshot->find(*IpKey::parse(learned.ip)) != nullptr);  // served at its learned address
}

TEST_CASE("stored rows are indexed by their learn_mac column, without decoding") {
  Snapshot::Builder builder;
  const std::string doc = "not even JSON";  // never decoded by the index
  builder.add(StoredInstance{"i-00000000000000001", "", doc, "t", "t", "0e:00:00:00:00:01"});
  builder.add(StoredInstance{"i-00000000000000002", "198.18.0.2", doc, "t", "t", ""});
  const auto snapshot = builder.finish(1);
  CHECK(builder.skipped().empty());  // no address is not a bad address
  CHECK(snapshot->size() == 1);
  REQUIRE(snapshot->learnable_instance("0e:00:00:00:00:01") != nullptr);
  CHECK(*snapshot->learnable_instance("0e:00:00:00:00:01") == "i-00000000000000001");
}

TEST_CASE("an edit moves a guest's MAC entry and leaves the old snapshot as it was") {
  std::vector<InstanceRecord> records;
  for (int i = 0; i < 1000; ++i) records.push_back(guest(i));
  const auto before = Snapshot::build(records, 1);
  REQUIRE(before->learnable_table().size() == 1000);

  // Guest 5 learns an address; guest 6 gets another MAC; guest 7 is deleted.
  InstanceRecord learned = guest(5, true);
  learned.ip_learned = true;
  InstanceRecord remac = guest(6);
  remac.mac = "0e:ff:00:00:00:06";
  Snapshot::Editor editor(*before);
  for (const auto* r : {&learned, &remac}) editor.forget_learnable(r->instance_id);
  editor.forget_learnable(guest(7).instance_id);
  editor.put(*IpKey::parse(learned.ip), render(learned));
  editor.learnable(learned);
  editor.learnable(remac);
  const auto after = editor.finish(2);

  CHECK(after->learnable_table().size() == 999);
  CHECK(*after->learnable_instance(guest(5).mac) == learned.instance_id);
  CHECK(after->find(*IpKey::parse(learned.ip))->instance_id() == learned.instance_id);
  CHECK(after->learnable_instance(guest(6).mac) == nullptr);
  CHECK(*after->learnable_instance(remac.mac) == remac.instance_id);
  CHECK(after->learnable_instance(guest(7).mac) == nullptr);
  // The published snapshot is untouched.
  CHECK(before->learnable_table().size() == 1000);
  CHECK(*before->learnable_instance(guest(6).mac) == guest(6).instance_id);
  CHECK(*before->learnable_instance(guest(7).mac) == guest(7).instance_id);
  CHECK(before->find(*IpKey::parse(learned.ip)) == nullptr);

  // An operator gives guest 5 a fixed address: it leaves the table.
  InstanceRecord pinned = learned;
  pinned.ip_learned = false;
  Snapshot::Editor pin(*after);
  pin.forget_learnable(pinned.instance_id);
  pin.learnable(pinned);
  CHECK(pin.finish(3)->learnable_instance(guest(5).mac) == nullptr);
}

TEST_CASE("a write of an instance that is not learnable shares the learnable table") {
  std::vector<InstanceRecord> records;
  for (int i = 0; i < 10; ++i) records.push_back(guest(i));
  records.push_back(guest(100, true));
  const auto before = Snapshot::build(records, 1);
  Snapshot::Editor editor(*before);
  editor.forget_learnable(guest(100).instance_id);
  editor.learnable(guest(100, true));
  const auto after = editor.finish(2);
  CHECK(&after->learnable_table() == &before->learnable_table());
}

TEST_CASE("a MAC given to a second record (a corrupt store) is the later record's alone") {
  InstanceRecord a = guest(1);
  InstanceRecord b = guest(2);
  b.mac = a.mac;
  const auto snapshot = Snapshot::build({a, b}, 1);
  CHECK(snapshot->learnable_table().size() == 1);
  CHECK(*snapshot->learnable_instance(a.mac) == b.instance_id);
  // Forgetting the first record does not take the MAC from the second.
  Snapshot::Editor editor(*snapshot);
  editor.forget_learnable(a.instance_id);
  CHECK(*editor.finish(2)->learnable_instance(a.mac) == b.instance_id);
}
