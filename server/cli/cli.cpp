#include "cloudmeta/cli.hpp"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli_commands.hpp"
#include "cli/cli_transfer.hpp"
#include "cli/healthcheck.hpp"
#include "cli/private_file.hpp"
#include "cloudmeta/app.hpp"
#include "cloudmeta/config.hpp"
#include "cloudmeta/libvirt_hook.hpp"
#include "cloudmeta/libvirt_hook_config.hpp"
#include "cloudmeta/log.hpp"
#include "cloudmeta/store.hpp"

namespace cloudmeta {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// The export is written and importable, but rows that could not be decoded were left out (each
// named on stderr): distinct from 1, where the output cannot be trusted.
constexpr int kExitExportIncomplete = 3;

const char kTopFooter[] =
    "Every command reads its settings from the environment, with KEY=VALUE lines of ./.env\n"
    "underneath (the environment wins). The ones besides serve's use:\n"
    "  DATABASE_URL                  sqlite:///path/file.db or postgres://user:pw@host/db\n"
    "                                (default ./cloudmeta.db)\n"
    "  LOG_LEVEL, LOG_FORMAT         debug|info|warn|error, text|json\n"
    "  CLOUDMETA_SUPERUSER_PASSWORD  the password for createsuperuser/changepassword --noinput\n"
    "`cloudmeta serve --help` lists every variable with its default and range.\n\n"
    "Exit status: 0 success; 1 failure (database, duplicate user, unknown token);\n"
    "2 usage or configuration error, explained on one `cloudmeta: error:` line;\n"
    "3 export written, but stored rows that could not be decoded were left out (named on\n"
    "stderr).";

std::string one_line(std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  return message;
}

struct Settings {
  Config::Lookup env;
  Config config;
};

// Read only once a command runs, so `--help` works even with a broken .env.
Settings load_settings() {
  Settings s{environment_with_dotenv(), {}};
  s.config = Config::from_env(s.env);
  log_configure(s.config.log_level, s.config.log_format);
  return s;
}

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err) : out_(out), err_(err) { define(); }

  int run(int argc, char** argv) {
    try {
      app_.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      out_ << app_.help();
      return 0;
    } catch (const CLI::CallForAllHelp&) {
      out_ << app_.help("", CLI::AppFormatMode::All);
      return 0;
    } catch (const CLI::CallForVersion& e) {
      out_ << e.what() << "\n";
      return 0;
    } catch (const CLI::ParseError& e) {
      return usage_error(e.what());
    }
    return dispatch();
  }

 private:
  void define() {
    app_.set_version_flag("--version", version_text(), "Print the version and exit");
    app_.require_subcommand(0, 1);
    app_.footer(kTopFooter);
    app_.get_formatter()->column_width(32);

    serve_ = app_.add_subcommand("serve", "Run the metadata surface and the admin surface");
    serve_->footer("Environment (also read from ./.env; the environment wins; empty = unset):\n" +
                   environment_help());

    migrate_ = app_.add_subcommand("migrate", "Apply pending migrations, print the schema version");

    createsuperuser_ = app_.add_subcommand("createsuperuser", "Create an admin (superuser)");
    createsuperuser_->add_option("--username", superuser_.username,
                                 "1..150 letters, digits or @.+-_")->required();
    createsuperuser_->add_option("--email", superuser_.email, "Contact address (optional)");
    add_noinput(createsuperuser_);

    changepassword_ = app_.add_subcommand("changepassword", "Set a superuser's password");
    changepassword_->add_option("--username", superuser_.username, "The account to change")
        ->required();
    add_noinput(changepassword_);

    token_ = app_.add_subcommand("token", "Manage admin API tokens (Authorization: Bearer)");
    token_->require_subcommand(0, 1);
    token_create_ = token_->add_subcommand(
        "create", "Create a token; the token is printed once, alone on the last line");
    token_create_->add_option("--name", token_name_, "1..100 letters, digits or @.+-_")
        ->required();
    token_list_ = token_->add_subcommand("list", "List tokens: name, prefix, created, last used");
    token_revoke_ = token_->add_subcommand("revoke", "Revoke a token (exit 1 if there is none)");
    token_revoke_->add_option("--name", token_name_, "The token's name")->required();

    identity_ = app_.add_subcommand("identity", "Signed instance identity documents");
    identity_->require_subcommand(0, 1);
    identity_certificates_ = identity_->add_subcommand(
        "certificates",
        "Print the certificates that verify pkcs7 (dsa), signature (rsa) and rsa2048, PEM");
    identity_certificates_->add_option("--name", identity_name_, "Only this one: dsa, rsa or rsa2048");
    identity_rotate_ = identity_->add_subcommand(
        "rotate", "Make new signing keys; the previous certificates stay published a while");
    identity_rotate_->add_option("--overlap-hours", identity_overlap_hours_,
                                 "How long the previous certificates stay published (168)");

    export_ = app_.add_subcommand(
        "export", "Write every instance record as JSON lines (IAM secrets included)");
    export_->add_option("--output", transfer_file_, "Write to FILE (mode 0600), not stdout");
    export_->footer(
        "A stored row that this version cannot decode is left out and named on stderr, and the\n"
        "exit status is then 3: the output holds every other record and stays importable.");
    import_ = app_.add_subcommand(
        "import", "Create or replace instance records from JSON lines (as export writes them)");
    import_->add_option("--input", transfer_file_, "Read FILE, not stdin")
        ->check(CLI::ExistingFile);
    import_->footer(
        "Every line is checked before anything is written; a bad line is reported with its\n"
        "number and nothing changes. Records are matched by instance_id; importing the same\n"
        "file again changes nothing.");

    version_ = app_.add_subcommand("version", "Print the version");

    healthcheck_ = app_.add_subcommand(
        "healthcheck", "GET /healthz on ADMIN_BIND:ADMIN_PORT; exit 0 if healthy, else 1");
    healthcheck_->add_option("--timeout", healthcheck_timeout_s_, "Seconds to wait for the answer")
        ->check(CLI::Range(1, 600));

    libvirt_hook_ = app_.add_subcommand(
        "libvirt-hook",
        "libvirt's qemu hook: register the guest on prepare/start, stop or delete it on release");
    libvirt_hook_->add_option("guest", hook_call_.guest, "The domain's name")->required();
    libvirt_hook_->add_option("operation", hook_call_.operation,
                              "prepare, start, release (others do nothing)")
        ->required();
    libvirt_hook_->add_option("sub-operation", hook_call_.sub_operation, "begin, end or -");
    libvirt_hook_->add_option("extra", hook_call_.extra, "libvirt's extra argument (-)");
    libvirt_hook_->footer(
        "The domain XML is read from standard input. /etc/libvirt/hooks/qemu may be a symlink\n"
        "to cloudmeta or `exec cloudmeta libvirt-hook \"$@\"` (docs/hypervisor.md). The server is\n"
        "reached at ADMIN_BIND:ADMIN_PORT. Environment (also read from ./.env):\n" +
        libvirt_hook_environment_help());
  }

  void add_noinput(CLI::App* command) {
    command->add_flag("--noinput", superuser_.noinput,
                      "Do not prompt: take the password from CLOUDMETA_SUPERUSER_PASSWORD");
    command->footer(
        "Without --noinput, standard input must be a terminal: the password is asked twice "
        "with echo off\nand must be at least 8 characters.");
  }

  static std::string version_text() { return std::string("cloudmeta ") + CLOUDMETA_VERSION; }

  int usage_error(const std::string& message) {
    err_ << "cloudmeta: error: " << one_line(message) << "\n";
    return kExitUsage;
  }

  int dispatch() {
    try {
      if (version_->parsed()) {
        out_ << version_text() << "\n";
        return 0;
      }
      if (serve_->parsed()) return serve(load_settings().config);
      if (migrate_->parsed()) {
        cli::migrate(load_settings().config, out_);
        return 0;
      }
      if (createsuperuser_->parsed() || changepassword_->parsed()) {
        const Settings s = load_settings();
        if (createsuperuser_->parsed()) {
          cli::create_superuser(s.config, s.env, superuser_, out_, err_);
        } else {
          cli::change_password(s.config, s.env, superuser_, out_, err_);
        }
        return 0;
      }
      if (token_->parsed()) return dispatch_token();
      if (identity_->parsed()) {
        if (identity_rotate_->parsed()) {
          cli::rotate_identity_keys(load_settings().config, identity_overlap_hours_, out_);
          return 0;
        }
        if (!identity_certificates_->parsed()) {
          err_ << identity_->help("cloudmeta");
          return usage_error("identity: a command is required (certificates or rotate)");
        }
        cli::print_identity_certificates(load_settings().config, identity_name_, out_);
        return 0;
      }
      if (export_->parsed()) return run_export(load_settings().config);
      if (import_->parsed()) return run_import(load_settings().config);
      if (libvirt_hook_->parsed()) {
        const Settings s = load_settings();
        return run_libvirt_hook(hook_call_, s.config, LibvirtHookConfig::from_env(s.env),
                                std::cin, err_);
      }
      if (healthcheck_->parsed()) {
        return healthcheck(load_settings().config, std::chrono::seconds(healthcheck_timeout_s_),
                           err_);
      }
      err_ << app_.help();
      return usage_error("a command is required");
    } catch (const ConfigError& e) {
      return usage_error(e.what());
    } catch (const cli::UsageError& e) {
      return usage_error(e.what());
    } catch (const std::exception& e) {
      // StoreError, CommandError, and anything the store or the server let through.
      err_ << "cloudmeta: error: " << one_line(e.what()) << "\n";
      return kExitFailure;
    }
  }

  int dispatch_token() {
    if (token_create_->parsed()) {
      cli::create_token(load_settings().config, token_name_, out_);
    } else if (token_list_->parsed()) {
      cli::list_tokens(load_settings().config, out_);
    } else if (token_revoke_->parsed()) {
      cli::revoke_token(load_settings().config, token_name_, out_);
    } else {
      err_ << token_->help("cloudmeta");
      return usage_error("token: a command is required (create, list or revoke)");
    }
    return 0;
  }

  // The file holds IAM secrets: created owner-only before anything is written to it.
  int run_export(const Config& config) {
    cli::ExportCounts counts;
    if (transfer_file_.empty()) {
      counts = cli::export_instances(config, out_);
    } else {
      cli::PrivateFile file(transfer_file_);
      counts = cli::export_instances(config, file.stream());
      err_ << "Exported " << counts.exported << " instance records to " << transfer_file_
           << ".\n";
    }
    for (const auto& line : counts.left_out) {
      err_ << "cloudmeta: not exported: " << one_line(line) << "\n";
    }
    return counts.left_out.empty() ? 0 : kExitExportIncomplete;
  }

  int run_import(const Config& config) {
    cli::ImportCounts counts;
    if (transfer_file_.empty()) {
      counts = cli::import_instances(config, std::cin);
    } else {
      std::ifstream file(transfer_file_);
      if (!file) throw cli::CommandError("cannot read " + transfer_file_);
      counts = cli::import_instances(config, file);
    }
    out_ << "Imported: " << counts.created << " created, " << counts.replaced << " replaced, "
         << counts.unchanged << " unchanged.\n";
    return 0;
  }

  std::ostream& out_;
  std::ostream& err_;
  CLI::App app_{"cloudmeta: an EC2-compatible instance metadata server (IMDS)", "cloudmeta"};
  CLI::App* serve_ = nullptr;
  CLI::App* migrate_ = nullptr;
  CLI::App* createsuperuser_ = nullptr;
  CLI::App* changepassword_ = nullptr;
  CLI::App* token_ = nullptr;
  CLI::App* token_create_ = nullptr;
  CLI::App* token_list_ = nullptr;
  CLI::App* token_revoke_ = nullptr;
  CLI::App* identity_ = nullptr;
  CLI::App* identity_certificates_ = nullptr;
  CLI::App* identity_rotate_ = nullptr;
  CLI::App* version_ = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* import_ = nullptr;
  std::string transfer_file_;
  CLI::App* healthcheck_ = nullptr;
  int healthcheck_timeout_s_ = 3;
  CLI::App* libvirt_hook_ = nullptr;
  LibvirtHookCall hook_call_;
  cli::SuperuserRequest superuser_;
  std::string token_name_;
  std::string identity_name_;
  std::int64_t identity_overlap_hours_ = 168;
};

}  // namespace

int run_cli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  // Installed as /etc/libvirt/hooks/qemu (a symlink to the binary), libvirt's arguments are
  // those of `cloudmeta libvirt-hook`.
  const std::string_view name = argc > 0 && argv[0] ? argv[0] : "";
  if (name == "qemu" || name.ends_with("/qemu")) {
    std::vector<char*> args(argv, argv + argc);
    static char subcommand[] = "libvirt-hook";
    args.insert(args.begin() + 1, subcommand);
    args.push_back(nullptr);
    return Cli(out, err).run(argc + 1, args.data());
  }
  return Cli(out, err).run(argc, argv);
}

int run_cli(int argc, char** argv) { return run_cli(argc, argv, std::cout, std::cerr); }

}  // namespace cloudmeta
