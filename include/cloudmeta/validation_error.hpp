// ValidationError: a write was refused for one field's value. Thrown by the record's rules
// (record_json.hpp, server/records/) and by rendering (metadata_tree.hpp); the admin API answers
// it with 400 naming the field.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace cloudmeta {

// A write was refused; `field` is the JSON field at fault ("tags.Name", "iam.expiration", ...).
class ValidationError : public std::runtime_error {
 public:
  ValidationError(std::string field, const std::string& message)
      : std::runtime_error(field.empty() ? message : field + ": " + message),
        field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

}  // namespace cloudmeta
