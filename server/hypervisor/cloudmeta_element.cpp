#include "hypervisor/cloudmeta_element.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <vector>

#include "hypervisor/domain_xml_error.hpp"

namespace cloudmeta::hypervisor {
namespace {

using nlohmann::json;

// Element -> record field, for the fields given as an element's text. The identity of the VM
// (instance_id) and its binding (mac, interface) come from the domain itself, not from here.
constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTextFields{{
    {"ip", "ip"},
    {"hostname", "hostname"},
    {"local-hostname", "local_hostname"},
    {"local-ipv4", "local_ipv4"},
    {"public-hostname", "public_hostname"},
    {"public-ipv4", "public_ipv4"},
    {"ami-id", "ami_id"},
    {"instance-type", "instance_type"},
    {"instance-life-cycle", "instance_life_cycle"},
    {"region", "region"},
    {"availability-zone", "availability_zone"},
    {"availability-zone-id", "availability_zone_id"},
    {"account-id", "account_id"},
    {"architecture", "architecture"},
    {"reservation-id", "reservation_id"},
    {"vpc-id", "vpc_id"},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kIamAttributes{{
    {"role", "role"},
    {"access-key-id", "access_key_id"},
    {"secret-access-key", "secret_access_key"},
    {"token", "token"},
    {"expiration", "expiration"},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kOptionAttributes{{
    {"http-tokens", "http_tokens"},
    {"http-endpoint", "http_endpoint"},
    {"instance-metadata-tags", "instance_metadata_tags"},
    {"http-put-response-hop-limit", "http_put_response_hop_limit"},
}};

[[noreturn]] void fail(std::string_view element, const std::string& message) {
  throw DomainXmlError("<cloudmeta:" + std::string(element) + ">: " + message);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// Inline user-data as the domain XML's author indented it: blank lines around it and the
// indentation all its lines share are the XML's, not the script's (Python's textwrap.dedent);
// the text ends with one newline, as a file would.
std::string dedented(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  const auto blank = [](std::string_view l) { return trimmed(l).empty(); };
  while (!lines.empty() && blank(lines.front())) lines.erase(lines.begin());
  while (!lines.empty() && blank(lines.back())) lines.pop_back();
  std::size_t indent = std::string_view::npos;
  for (const std::string_view l : lines) {
    if (!blank(l)) indent = std::min(indent, l.find_first_not_of(" \t"));
  }
  std::string out;
  for (std::string_view l : lines) {
    l.remove_prefix(std::min(indent, l.size()));
    while (!l.empty() && is_space(l.back())) l.remove_suffix(1);
    out.append(l);
    out += '\n';
  }
  return out;
}

// The element's text (text and CDATA parts joined); an element inside it is refused.
std::string text_of(const pugi::xml_node& element, std::string_view name) {
  std::string text;
  for (const pugi::xml_node& child : element.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
    } else if (child.type() == pugi::node_element) {
      fail(name, "holds an element; it takes text only");
    }
  }
  return text;
}

// Attributes of `element`, each one of `allowed`, as the JSON object of their record names.
template <std::size_t N>
json attributes_of(const pugi::xml_node& element, std::string_view name,
                   const std::array<std::pair<std::string_view, std::string_view>, N>& allowed) {
  json out = json::object();
  for (const pugi::xml_attribute& a : element.attributes()) {
    const std::string_view attribute = a.name();
    if (attribute.starts_with("xmlns")) continue;
    const auto it = std::find_if(allowed.begin(), allowed.end(),
                                 [&](const auto& p) { return p.first == attribute; });
    if (it == allowed.end()) fail(name, "unknown attribute " + std::string(attribute));
    out[std::string(it->second)] = a.value();
  }
  return out;
}

std::string required_attribute(const pugi::xml_node& element, std::string_view name,
                               const char* attribute) {
  const pugi::xml_attribute a = element.attribute(attribute);
  if (!a) fail(name, std::string("needs the attribute ") + attribute);
  return a.value();
}

bool overwrite_of(const pugi::xml_node& element) {
  const pugi::xml_attribute a = element.attribute("overwrite");
  if (!a) return false;
  const std::string_view v = a.value();
  if (v == "true") return true;
  if (v == "false") return false;
  fail("instance", "overwrite must be true or false");
}

// A plain file name: the hook reads it from LIBVIRT_HOOK_USER_DATA_DIR only, so a domain's XML
// cannot point the hook (which runs as root) at any other file on the host.
std::string user_data_file_name(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 255 && name.front() != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                  });
  if (!ok) {
    fail("user-data",
         "file must be a file name (letters, digits, '.', '_', '-'; not starting with '.') in "
         "LIBVIRT_HOOK_USER_DATA_DIR");
  }
  return name;
}

void read_user_data(const pugi::xml_node& element, DeclaredFields& out) {
  constexpr std::string_view kName = "user-data";
  if (out.fields.contains("user_data") || out.fields.contains("user_data_base64") ||
      !out.user_data_file.empty()) {
    fail(kName, "given twice");
  }
  const std::string text = text_of(element, kName);
  std::string encoding;
  for (const pugi::xml_attribute& a : element.attributes()) {
    const std::string_view attribute = a.name();
    if (attribute == "file") {
      out.user_data_file = user_data_file_name(a.value());
    } else if (attribute == "encoding") {
      encoding = a.value();
    } else if (!attribute.starts_with("xmlns")) {
      fail(kName, "unknown attribute " + std::string(attribute));
    }
  }
  if (!out.user_data_file.empty()) {
    if (!trimmed(text).empty() || !encoding.empty()) fail(kName, "file takes no text or encoding");
    return;
  }
  if (encoding == "base64") {
    std::string compact;
    for (const char c : text) {
      if (!is_space(c)) compact += c;
    }
    out.fields["user_data_base64"] = compact;
  } else if (encoding.empty()) {
    out.fields["user_data"] = dedented(text);
  } else {
    fail(kName, "encoding must be base64 (or absent: the text as it is)");
  }
}

void put_once(json& object, const std::string& key, json value, std::string_view element) {
  if (object.contains(key)) fail(element, "'" + key + "' given twice");
  object[key] = std::move(value);
}

void read_child(const pugi::xml_node& child, DeclaredFields& out) {
  const std::string name = local_name(child);
  json& f = out.fields;
  const auto text_field =
      std::find_if(kTextFields.begin(), kTextFields.end(),
                   [&](const auto& p) { return p.first == name; });
  if (text_field != kTextFields.end()) {
    const std::string field(text_field->second);
    if (f.contains(field)) fail(name, "given twice");
    f[field] = trimmed(text_of(child, name));
  } else if (name == "tag") {
    put_once(f["tags"], required_attribute(child, name, "key"), trimmed(text_of(child, name)),
             name);
  } else if (name == "public-key") {
    put_once(f["public_keys"], required_attribute(child, name, "name"),
             trimmed(text_of(child, name)), name);
  } else if (name == "security-group") {
    f["security_groups"].push_back(trimmed(text_of(child, name)));
  } else if (name == "user-data") {
    read_user_data(child, out);
  } else if (name == "iam") {
    if (f.contains("iam")) fail(name, "given twice");
    f["iam"] = attributes_of(child, name, kIamAttributes);
  } else if (name == "metadata-options") {
    if (f.contains("metadata_options")) fail(name, "given twice");
    json options = attributes_of(child, name, kOptionAttributes);
    if (auto it = options.find("http_put_response_hop_limit"); it != options.end()) {
      const std::string v = it->get<std::string>();
      const bool digits = !v.empty() && v.size() <= 2 &&
                          std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) fail(name, "http-put-response-hop-limit must be a number 1..64");
      *it = std::stoi(v);
    }
    f["metadata_options"] = std::move(options);
  } else {
    fail(name, "unknown element (docs/hypervisor.md lists the elements)");
  }
}

}  // namespace

std::string local_name(const pugi::xml_node& element) {
  const std::string_view name = element.name();
  const auto colon = name.find(':');
  return std::string(colon == std::string_view::npos ? name : name.substr(colon + 1));
}

std::string namespace_of(const pugi::xml_node& element) {
  const std::string_view name = element.name();
  const auto colon = name.find(':');
  const std::string declaration =
      colon == std::string_view::npos ? "xmlns" : "xmlns:" + std::string(name.substr(0, colon));
  for (pugi::xml_node n = element; n && n.type() == pugi::node_element; n = n.parent()) {
    if (const pugi::xml_attribute a = n.attribute(declaration.c_str())) return a.value();
  }
  return {};
}

DeclaredFields read_cloudmeta_element(const pugi::xml_node& element) {
  DeclaredFields out;
  out.overwrite = overwrite_of(element);
  for (const pugi::xml_attribute& a : element.attributes()) {
    const std::string_view attribute = a.name();
    if (attribute != "overwrite" && !attribute.starts_with("xmlns")) {
      fail("instance", "unknown attribute " + std::string(attribute));
    }
  }
  for (const pugi::xml_node& child : element.children()) {
    if (child.type() == pugi::node_pcdata && !trimmed(child.value()).empty()) {
      fail("instance", "holds text outside its elements");
    }
    if (child.type() != pugi::node_element) continue;
    // Another application's element nested here is not ours to judge.
    if (namespace_of(child) != kXmlNamespace) continue;
    read_child(child, out);
  }
  return out;
}

}  // namespace cloudmeta::hypervisor
