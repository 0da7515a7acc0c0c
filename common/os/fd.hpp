#pragma once
// An owned file descriptor: the one descriptor owner of ft (server and
// clients). Closed on destruction; a moved-from Fd owns nothing.
namespace ft {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  /// Gives up ownership without closing.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  /// Closes what is owned (if anything) and owns `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace ft
