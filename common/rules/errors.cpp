#include "common/rules/errors.hpp"

#include <cerrno>

namespace ft {

std::string to_string(ErrorCode code) {
  switch (code) {
#define FT_X(name, value, exit, text) \
  case ErrorCode::name:               \
    return #name;
    FT_ERRORS(FT_X)
#undef FT_X
  }
  std::string out = "UNKNOWN_";  // appended: gcc -O2 misreads "lit" + string (-Wrestrict)
  out += std::to_string(static_cast<unsigned>(code));
  return out;
}

std::string_view default_message(ErrorCode code) {
  switch (code) {
#define FT_X(name, value, exit, text) \
  case ErrorCode::name:               \
    return text;
    FT_ERRORS(FT_X)
#undef FT_X
  }
  return "unknown error";
}

Exit exit_status_for(ErrorCode code) {
  switch (code) {
#define FT_X(name, value, exit, text) \
  case ErrorCode::name:               \
    return Exit::exit;
    FT_ERRORS(FT_X)
#undef FT_X
  }
  return Exit::kServerError;
}

bool is_wire_code(std::uint16_t code) {
  switch (static_cast<ErrorCode>(code)) {
#define FT_X(name, value, exit, text) \
  case ErrorCode::name:               \
    return value < 1000;
    FT_ERRORS(FT_X)
#undef FT_X
  }
  return false;
}

ErrorCode error_from_errno(int err) {
  switch (err) {
    case ENOENT:
      return ErrorCode::NOT_FOUND;
    case ENOTDIR:
      return ErrorCode::NOT_A_DIRECTORY;
    case EISDIR:
      return ErrorCode::IS_A_DIRECTORY;
    case EACCES:
    case EPERM:
    case EROFS:
      return ErrorCode::PERMISSION_DENIED;
    case EXDEV:
    case ELOOP:
      return ErrorCode::PATH_ESCAPES_ROOT;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return ErrorCode::NO_SPACE;
    case ENAMETOOLONG:
      return ErrorCode::BAD_PATH;
    case ENOTEMPTY:
      return ErrorCode::NOT_EMPTY;
    default:
      return ErrorCode::IO_ERROR;
  }
}

std::string error_table_markdown() {
  std::string out =
      "| code | name | exit | meaning |\n"
      "|-----:|------|-----:|---------|\n";
#define FT_X(name, value, exit, text)                                                         \
  if (value < 1000) {                                                                         \
    out += "| ";                                                                              \
    out += std::to_string(value) + " | " #name " | " +                                        \
           std::to_string(static_cast<int>(Exit::exit)) + " | " + std::string(text) + " |\n"; \
  }
  FT_ERRORS(FT_X)
#undef FT_X
  return out;
}

std::string exit_table_markdown() {
  std::string out =
      "| status | meaning |\n"
      "|-------:|---------|\n";
#define FT_X(name, value, text) \
  out += "| ";                  \
  out += std::to_string(value) + " | " + text + " |\n";
  FT_EXIT_CODES(FT_X)
#undef FT_X
  return out;
}

}  // namespace ft
