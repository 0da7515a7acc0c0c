#include "proxy_options.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdio>
#include <string_view>

namespace proxy {
namespace {

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

// Accepts IPV4:PORT or [IPV6]:PORT with a loopback address only.
bool parse_target(std::string_view text, Options& options, std::string& why) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      why = "expected [IPV6]:PORT";
      return false;
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      why = "expected ADDR:PORT";
      return false;
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  auto port = parse_number(port_text);
  if (!port || *port == 0 || *port > 65535) {
    why = "bad port";
    return false;
  }
  options.target = {};
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    if ((ntohl(v4.s_addr) >> 24) != 127) {
      why = "refusing a non-loopback target (only 127.0.0.0/8 and ::1)";
      return false;
    }
    auto* address = reinterpret_cast<sockaddr_in*>(&options.target);
    address->sin_family = AF_INET;
    address->sin_addr = v4;
    address->sin_port = htons(static_cast<std::uint16_t>(*port));
    options.target_length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6)) {
      why = "refusing a non-loopback target (only 127.0.0.0/8 and ::1)";
      return false;
    }
    auto* address = reinterpret_cast<sockaddr_in6*>(&options.target);
    address->sin6_family = AF_INET6;
    address->sin6_addr = v6;
    address->sin6_port = htons(static_cast<std::uint16_t>(*port));
    options.target_length = sizeof(sockaddr_in6);
  } else {
    why = "the target must be a numeric loopback address";
    return false;
  }
  options.target_text = std::string(text);
  return true;
}

}  // namespace

void usage(const char* program) {
  std::fprintf(stderr,
               "usage: %s --target 127.0.0.1:PORT|[::1]:PORT [--flip-upstream N]\n"
               "       [--flip-downstream N] [--cut-after N] [--cut-downstream-after N]\n"
               "       [--stall-after N] [--stall-downstream-after N] [--flip-every N]\n"
               "       [--flip-bit B] [--record FILE] [--record-downstream FILE] [--rate BPS]\n"
               "       [--clear-capabilities BITS]\n"
               "       %s --target 127.0.0.1:PORT --replay FILE\n",
               program, program);
}

// Parses `--name VALUE` and `--name=VALUE`. Returns nullopt on a usage error.
std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  bool have_target = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view argument = argv[i];
    std::string_view name = argument;
    std::optional<std::string_view> value;
    if (auto equals = argument.find('='); equals != std::string_view::npos) {
      name = argument.substr(0, equals);
      value = argument.substr(equals + 1);
    }
    if (name == "-h" || name == "--help") return std::nullopt;
    if (!value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ft_test_proxy: %s needs a value\n", argv[i]);
        return std::nullopt;
      }
      value = argv[++i];
    }
    if (name == "--target") {
      std::string why;
      if (!parse_target(*value, options, why)) {
        std::fprintf(stderr, "ft_test_proxy: --target %.*s: %s\n", static_cast<int>(value->size()),
                     value->data(), why.c_str());
        return std::nullopt;
      }
      have_target = true;
      continue;
    }
    if (name == "--record" || name == "--replay" || name == "--record-downstream") {
      (name == "--record"   ? options.record_path
       : name == "--replay" ? options.replay_path
                            : options.record_downstream_path) = std::string(*value);
      continue;
    }
    std::optional<std::uint64_t>* slot = nullptr;
    if (name == "--flip-upstream") slot = &options.flip_upstream;
    if (name == "--flip-downstream") slot = &options.flip_downstream;
    if (name == "--cut-after") slot = &options.cut_after;
    if (name == "--cut-downstream-after") slot = &options.cut_downstream_after;
    if (name == "--stall-after") slot = &options.stall_after;
    if (name == "--stall-downstream-after") slot = &options.stall_downstream_after;
    if (name == "--flip-every") slot = &options.flip_every;
    if (name == "--flip-bit") slot = &options.flip_bit;
    if (name == "--rate") slot = &options.rate;
    if (name == "--clear-capabilities") slot = &options.clear_capabilities;
    if (slot == nullptr) {
      std::fprintf(stderr, "ft_test_proxy: unknown option %.*s\n", static_cast<int>(name.size()),
                   name.data());
      return std::nullopt;
    }
    *slot = parse_number(*value);
    if (!*slot) {
      std::fprintf(stderr, "ft_test_proxy: %.*s wants a non-negative integer\n",
                   static_cast<int>(name.size()), name.data());
      return std::nullopt;
    }
  }
  if (!have_target) {
    std::fprintf(stderr, "ft_test_proxy: --target is required\n");
    return std::nullopt;
  }
  if (options.flip_bit && *options.flip_bit > 7) {
    std::fprintf(stderr, "ft_test_proxy: --flip-bit wants a bit number from 0 to 7\n");
    return std::nullopt;
  }
  if (options.rate && *options.rate == 0) {
    std::fprintf(stderr, "ft_test_proxy: --rate wants a positive number of bytes per second\n");
    return std::nullopt;
  }
  if (options.clear_capabilities && *options.clear_capabilities > 0xffffffffu) {
    std::fprintf(stderr, "ft_test_proxy: --clear-capabilities wants 32 bits at most\n");
    return std::nullopt;
  }
  if (options.flip_every && *options.flip_every == 0) {
    std::fprintf(stderr, "ft_test_proxy: --flip-every wants a positive integer\n");
    return std::nullopt;
  }
  return options;
}

}  // namespace proxy
