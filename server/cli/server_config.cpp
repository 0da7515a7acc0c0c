#include "server/cli/server_config.hpp"

#include <cctype>
#include <iterator>

#include "common/rules/settings_file.hpp"

namespace ft::server {
std::vector<CLI::ConfigItem> ServerConfigReader::from_config(std::istream& input) const {
  // CLI11 opens the file and hands over the stream; the name is the value
  // of --config, parsed by then.
  const CLI::Option* config = app_.get_config_ptr();
  file_ = config != nullptr && !config->results().empty() ? config->results().front() : "config";
  lines_.clear();
  std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
  if (input.bad()) throw CLI::ConfigError(settings_error_text(file_, 0, "cannot read the file"));
  auto fail = [&](std::size_t line, const std::string& reason) {
    return CLI::ConfigError(settings_error_text(file_, line, reason));
  };
  SettingsError error;
  auto sections = parse_settings(text, error);
  if (!sections) throw fail(error.line, error.reason);
  if (sections->size() > 1) {
    throw fail((*sections)[1].line, "ftserve's file has no sections: remove [" +
                                        (*sections)[1].name + "] and keep its settings");
  }
  std::map<std::string, std::size_t, std::less<>> seen;
  std::vector<CLI::ConfigItem> items;
  for (const Setting& setting : sections->front().settings) {
    const std::string name = "--" + setting.key;
    const CLI::Option* option = app_.get_option_no_throw(name);
    if (option == nullptr || setting.key == "help" || setting.key == "version" ||
        setting.key == "config") {
      throw fail(setting.line, "unknown setting '" + setting.key +
                                   "' (a setting is one of ftserve's long options without its "
                                   "'--': see ftserve --help)");
    }
    if (auto [at, fresh] = seen.emplace(setting.key, setting.line); !fresh) {
      throw fail(setting.line,
                 "'" + setting.key + "' is already set on line " + std::to_string(at->second));
    }
    const bool flag = option->get_expected_min() == 0;
    if (flag && !is_switch_value(setting.value)) {
      throw fail(setting.line, "'" + setting.key + "' is a switch: write " + setting.key +
                                   " = true or " + setting.key + " = false");
    }
    if (!flag && setting.value.empty())
      throw fail(setting.line, "no value for '" + setting.key + "'");
    // An option already given on the command line keeps that value: CLI11
    // skips the setting, and errors about the option are not the file's.
    if (option->count() == 0) lines_.emplace(name, setting.line);
    CLI::ConfigItem item;
    item.name = setting.key;
    item.inputs = {setting.value};
    items.push_back(std::move(item));
  }
  return items;
}

std::string ServerConfigReader::where(std::string_view option) const {
  auto it = lines_.find(option);
  if (it == lines_.end()) return {};
  return settings_error_text(file_, it->second, "");
}

std::string ServerConfigReader::locate(const std::string& message) const {
  for (const auto& [option, line] : lines_) {
    std::size_t at = message.find(option);
    // A whole option name, not the prefix of a longer one.
    const std::size_t end = at + option.size();
    if (at != std::string::npos &&
        (end == message.size() ||
         !(std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '-'))) {
      return settings_error_text(file_, line, message);
    }
  }
  return message;
}

std::shared_ptr<ServerConfigReader> add_config_option(CLI::App& app) {
  auto reader = std::make_shared<ServerConfigReader>(app);
  app.config_formatter(reader);
  app.set_config("--config", "",
                 "read settings from FILE: one 'option = value' per line for any long option\n"
                 "above (e.g. root = /srv/ft, read-only = true); options given here win")
      ->type_name("FILE");
  return reader;
}

}  // namespace ft::server
