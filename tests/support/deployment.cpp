#include "deployment.hpp"

#include <stdexcept>

namespace cloudmeta::testing {

std::filesystem::path cloudmeta_binary() { return CLOUDMETA_BINARY; }

Deployment::Deployment(Environment settings) : settings_(std::move(settings)) {
  const CommandResult made = cli({"token", "create", "--name", "integration"});
  const auto lines = split_lines(made.out);
  if (made.exit_code != 0 || lines.empty()) {
    throw std::runtime_error("cloudmeta token create failed (exit " +
                             std::to_string(made.exit_code) + "): " + made.err);
  }
  api_token_ = lines.back();
}

std::string Deployment::database_url() const {
  return "sqlite://" + (dir_ / "cloudmeta.db").string();
}

Environment Deployment::environment() const {
  Environment env = {
      {"DATABASE_URL", database_url()}, {"BIND", "127.0.0.1"}, {"PORT", "0"},
      {"ADMIN_BIND", "127.0.0.1"},      {"ADMIN_PORT", "0"},   {"LOG_LEVEL", "info"},
      {"LOG_FORMAT", "text"},
  };
  for (const auto& [k, v] : settings_) env[k] = v;
  return env;
}

CommandResult Deployment::cli(const std::vector<std::string>& args,
                              const Environment& extra) const {
  std::vector<std::string> argv = {cloudmeta_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Environment env = environment();
  for (const auto& [k, v] : extra) env[k] = v;
  return run_command(argv, env, dir());
}

ServerProcess& Deployment::start(const Environment& extra) {
  if (server_ && server_->running()) throw std::logic_error("server already running");
  Environment env = environment();
  for (const auto& [k, v] : extra) env[k] = v;
  server_ = std::make_unique<ServerProcess>(cloudmeta_binary(), env, dir(), dir() / "server.log");
  return *server_;
}

ServerProcess& Deployment::server() {
  if (!server_) throw std::logic_error("server not started");
  return *server_;
}

int Deployment::stop() { return server().stop(); }

HttpResponse Deployment::admin(const std::string& method, const std::string& target,
                               const std::string& body, Headers headers) {
  bool has_auth = false;
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    has_auth = has_auth || name == "Authorization";
    has_type = has_type || name == "Content-Type";
  }
  if (!has_auth) headers.emplace_back("Authorization", "Bearer " + api_token_);
  if (!body.empty() && !has_type) headers.emplace_back("Content-Type", "application/json");
  headers.emplace_back("Host", "127.0.0.1");
  headers.emplace_back("Connection", "close");
  return http_call(server().admin_port(), {method, target, std::move(headers), body});
}

nlohmann::json Deployment::create_instance(const nlohmann::json& record) {
  const HttpResponse r = admin("POST", "/api/v1/instances", record.dump());
  if (r.status != 201) {
    throw std::runtime_error("POST /api/v1/instances answered " + std::to_string(r.status) + ": " +
                             r.body);
  }
  return nlohmann::json::parse(r.body);
}

HttpResponse Deployment::imds(const std::string& source, const std::string& method,
                              const std::string& target, Headers headers) {
  headers.emplace_back("Connection", "close");
  return http_call(server().metadata_port(), {method, target, std::move(headers), {}}, source);
}

std::string Deployment::imds_token(const std::string& source, const std::string& ttl) {
  const HttpResponse r =
      imds(source, "PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", ttl}});
  if (r.status != 200) {
    throw std::runtime_error("token PUT answered " + std::to_string(r.status) + ": " + r.body);
  }
  return r.body;
}

nlohmann::json instance_record(const std::string& id, const std::string& ip) {
  return {{"instance_id", id},
          {"ip", ip},
          {"hostname", "ip-10-0-0-1.ec2.internal"},
          {"region", "us-east-1"},
          {"availability_zone", "us-east-1a"},
          {"instance_type", "t3.micro"}};
}

}  // namespace cloudmeta::testing
