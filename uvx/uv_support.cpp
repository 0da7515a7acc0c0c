#include "uvx/uv_support.hpp"

#include <cstdio>
#include <exception>

#include "common/os/thread_policy.hpp"

namespace ft::server {
namespace {

void report_to_stderr(const char* message) {
  std::fprintf(stderr, "ftserve: %s\n", message);
}

// Set once, before the loop runs (Server's constructor); read by worker
// threads only after that.
void (*g_report)(const char*) = report_to_stderr;

void report(const char* what, const char* detail = nullptr) {
  char message[512];
  if (detail != nullptr) {
    std::snprintf(message, sizeof message, "%s: %s", what, detail);
  } else {
    std::snprintf(message, sizeof message, "%s", what);
  }
  g_report(message);
}

struct Job {
  uv_work_t req{};
  std::function<void()> work;
  std::function<void()> done;
};

void run_work(uv_work_t* req) noexcept {
  // The pool threads do the bulk file work (reads and hashes of downloads,
  // hashes and writes of uploads) that the loop thread hands them a chunk
  // at a time. As batch threads, one woken for a job no longer takes the
  // loop's core on the spot: it runs on a free core, or once the loop
  // waits (a 1 GiB upload about 9 % faster on two cores,
  // docs/performance.md). libuv makes its threads without a hook, so each
  // sets its policy at its first job.
  thread_local bool batch_policy_set = false;
  if (!batch_policy_set) {
    batch_policy_set = true;
    (void)run_as_batch_thread();
  }
  auto* job = static_cast<Job*>(req->data);
  try {
    job->work();
  } catch (const std::exception& e) {
    report("worker job failed", e.what());
  } catch (...) {
    report("worker job failed");
  }
}

void after_work(uv_work_t* req, int) noexcept {
  std::unique_ptr<Job> job(static_cast<Job*>(req->data));
  try {
    job->done();
  } catch (const std::exception& e) {
    report("job completion failed", e.what());
  } catch (...) {
    report("job completion failed");
  }
}

void after_write(uv_write_t* req, int status) noexcept {
  std::unique_ptr<WriteRequest> request(static_cast<WriteRequest*>(req->data));
  try {
    if (request->on_written) request->on_written(status);
  } catch (...) {
    report("write completion failed");
  }
}

}  // namespace

void set_error_reporter(void (*report)(const char* message)) {
  g_report = report != nullptr ? report : report_to_stderr;
}

void queue_job(uv_loop_t* loop, std::function<void()> work, std::function<void()> done) {
  auto job = std::make_unique<Job>();
  job->work = std::move(work);
  job->done = std::move(done);
  job->req.data = job.get();
  int rc = uv_queue_work(loop, &job->req, run_work, after_work);
  if (rc != 0) {
    // uv_queue_work only fails on invalid arguments; run both steps later
    // would be wrong, so fail loudly.
    report("uv_queue_work", uv_strerror(rc));
    std::abort();
  }
  job.release();
}

int start_write(uv_stream_t* stream, std::unique_ptr<WriteRequest> request) {
  uv_buf_t bufs[2];
  unsigned count = 0;
  bufs[count++] = uv_buf_init(reinterpret_cast<char*>(request->head.data()),
                              static_cast<unsigned>(request->head.size()));
  if (request->body && request->body_length > 0) {
    bufs[count++] =
        uv_buf_init(reinterpret_cast<char*>(request->body->data() + request->body_offset),
                    static_cast<unsigned>(request->body_length));
  }
  request->req.data = request.get();
  int rc = uv_write(&request->req, stream, bufs, count, after_write);
  if (rc == 0) request.release();
  return rc;
}

int bind_tcp(uv_tcp_t* handle, const std::string& host, int port) {
  struct sockaddr_storage storage {};
  int rc = host.find(':') != std::string::npos
               ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<struct sockaddr_in6*>(&storage))
               : uv_ip4_addr(host.c_str(), port, reinterpret_cast<struct sockaddr_in*>(&storage));
  if (rc != 0) return rc;
  return uv_tcp_bind(handle, reinterpret_cast<struct sockaddr*>(&storage), 0);
}

std::string format_address(const struct sockaddr* address) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (address->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(address);
    uv_ip6_name(in6, host, sizeof host);
    port = ntohs(in6->sin6_port);
    std::string out = "[";
    out += host;
    out += "]:";
    out += std::to_string(port);
    return out;
  }
  auto* in4 = reinterpret_cast<const struct sockaddr_in*>(address);
  uv_ip4_name(in4, host, sizeof host);
  port = ntohs(in4->sin_port);
  std::string out = host;
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string format_host(const struct sockaddr* address) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (address->sa_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const struct sockaddr_in6*>(address), host, sizeof host);
  } else if (address->sa_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<const struct sockaddr_in*>(address), host, sizeof host);
  }
  return host;
}

}  // namespace ft::server
