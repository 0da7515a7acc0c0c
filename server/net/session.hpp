#pragma once
// One client connection: reads frames through the FrameDecoder, routes them
// to the requests in flight, writes replies, and applies backpressure (stops
// reading while too much received data waits for the disk, and lets
// downloads read ahead only while the send queue is short).
//
// With keys (ServerOptions::tls) every byte in and out goes through a
// TlsEngine; the identity found by the handshake decides the Access. A
// timer enforces the handshake deadline and then the idle timeout.
// session.cpp routes frames and keeps the phase; session_transport.cpp
// reads, writes, enforces deadlines and closes; session_tls.cpp runs the
// TLS engine and authentication.
//
// Ownership is one way: the Server owns its sessions, a session owns its
// requests, and a request reaches back through a ContextRef that never keeps
// the connection open. A closed session is freed by the Server on a later
// turn once its handles are closed and no ContextRef remains.
#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/base/limits.hpp"
#include "common/crypto/tls_engine.hpp"
#include "common/wire/frame.hpp"
#include "common/wire/messages.hpp"
#include "common/wire/proxy_header.hpp"
#include "server/core/request.hpp"
#include "server/core/request_context.hpp"
#include "server/core/server_options.hpp"
#include "server/net/bandwidth_pacer.hpp"
#include "server/net/memory_budget.hpp"
#include "server/requests/stat_batch.hpp"
#include "uvx/handle.hpp"
#include "uvx/uv_support.hpp"

namespace ft::server {

class Server;

class Session final : public RequestContext, private MemoryBudget::Waiter {
 public:
  // Received bytes waiting for the disk: stop reading above the high mark,
  // resume below the low one. Bytes queued for sending: downloads stop
  // reading ahead above the high mark.
  static constexpr std::size_t kDiskHighWater = 4 * 1024 * 1024;
  static constexpr std::size_t kDiskLowWater = 2 * 1024 * 1024;
  static constexpr std::size_t kReplyHighWater = 16 * 1024 * 1024;
  /// With keys, the send queue's marks are half RequestContext's: a queued
  /// chunk is held there as ciphertext (a pooled buffer) besides the
  /// plaintext chunk being read, and keyed downloads kept ftserve's peak
  /// above 16 MiB (issue 15, docs/server.md "Resource use").
  static constexpr std::size_t kTlsSendHighWater = kSendHighWater / 2;
  static constexpr std::size_t kTlsSendLowWater = kSendLowWater / 2;
  static_assert(kTlsSendHighWater >= 2 * limits::kDefaultChunkSize,
                "room for a chunk being written while the next is read");
  static constexpr std::size_t kMaxDiscarding = 1024;
  // A DATA chunk up to this size is copied into the replies of its turn of
  // the loop (one write for many small files) instead of written on its own.
  static constexpr std::size_t kInlineDataMax = 16 * 1024;
  // Replies of one turn of the loop are written once they hold this much.
  static constexpr std::size_t kOutboxFlushAt = 64 * 1024;
  // A listing holds its directory's entries until its last page is sent:
  // with a thousand LISTs in flight, this many run at once and the others
  // wait their turn (and for the send queue to be under its mark).
  static constexpr std::size_t kMaxListingsRunning = 16;
  // What a request in flight is counted for in the memory budget: its
  // object and file state, plus its message twice (the frame's payload and
  // the strings decoded from it, such as a path of up to 4 KiB).
  static constexpr std::size_t kRequestFixedCharge = 1024;
  // Ciphertext read buffer: small until the handshake is done (an idle or
  // hostile connection costs little), then large enough for full-speed
  // transfers.
  static constexpr std::size_t kHandshakeReadSize = 4 * 1024;
  static constexpr std::size_t kCipherReadSize = 64 * 1024;
  // Encrypted replies at least this large are written into a buffer sized
  // for their records (TlsEngine::reserve_output), freed once written.
  static constexpr std::size_t kSizedCipherMin = 64 * 1024;
  // The slowest a peer may move bytes, either way, for them to count as
  // progress against the idle timeout (bytes per second, on average since
  // the last progress); a complete frame always counts. A trickle below it
  // (a byte a second) no longer holds a slot for ever.
  static constexpr std::uint64_t kMinProgressRate = 64;

  /// Where a connection stands. Legal moves (enter() asserts them):
  ///   kTlsHandshake -> kAuthenticating -> kAwaitingHello   (with keys)
  ///   kAwaitingHello -> kServing                           (hellos exchanged)
  ///   any -> kClosing                                      (once, for good)
  enum class Phase {
    kTlsHandshake,    // keys: ciphertext only, until the handshake names the identity
    kAuthenticating,  // keys: the identity's directory is opened; nothing is read
    kAwaitingHello,   // access settled; plaintext is decoded, the hello is due
    kServing,         // hellos exchanged: requests are routed
    kClosing,         // handles closing: nothing more is read or sent
  };

  explicit Session(Server& server);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Accepts a pending connection from `listener` and starts reading.
  int accept_from(uv_stream_t* listener);
  /// Aborts every request and closes the connection; with `code` the client
  /// is first told why (ERROR on request id 0), best effort.
  void close(ErrorCode code, const std::string& message, bool notify);
  /// The server drains (Server::drain): closes now (SHUTTING_DOWN) unless
  /// requests are in flight; then refuses new uploads and downloads and closes once the
  /// last has finished.
  void drain();

  // For requests.
  uv_loop_t* loop() const override;
  /// The root this connection sees: the identity's sub-directory, or the
  /// served root.
  int root_fd() const override { return access_.root_fd; }
  /// Who is connected and what they may do (docs/server.md "Rights").
  const Access& access() const override { return access_; }
  const std::string& peer() const { return peer_; }
  bool closing() const { return phase_ == Phase::kClosing; }
  Phase phase() const { return phase_; }
  /// Closed and no ContextRef left: the Server may free it.
  bool freeable() const { return handles_closed_ && references() == 0; }
  /// Whether both hellos carried RESUME (docs/protocol.md, section 5.4).
  bool resume() const override { return resume_; }
  bool eager() const override { return eager_; }
  bool stream() const override { return stream_; }
  bool delta_put() const override { return delta_put_; }
  bool delta_early() const override { return delta_early_; }
  bool delta_get() const override { return delta_get_; }
  NameRules name_rules() const override {
    return archive_ ? NameRules::kAnyBytes : NameRules::kPortable;
  }
  bool sparse() const override { return sparse_; }
  bool compress() const override { return compress_; }
  bool owners() const override { return owners_; }
  Server& server() const { return server_; }
  ServerServices& services() const override;
  void send_frame(Bytes frame) override;
  void send_data(std::uint32_t id, std::uint64_t offset, std::uint64_t chunk_hash,
                 std::shared_ptr<Bytes> body, std::size_t length, std::uint8_t flags = 0) override;
  void send_error(std::uint32_t id, ErrorCode code, const std::string& path,
                  const std::string& message) override;
  /// The request ended (its last frame was sent); `discard_rest` keeps
  /// swallowing its DATA/END frames still on their way.
  void finish_request(std::uint32_t id, bool discard_rest) override;
  /// Hands a received payload buffer back to the decoder for reuse.
  void recycle(Bytes&& buffer) override {
    if (decoder_) decoder_->recycle(std::move(buffer));
  }
  Bytes take_recycled(std::size_t size) override {
    return decoder_ ? decoder_->take_recycled(size) : Bytes();
  }
  void add_disk_backlog(std::size_t bytes) override;
  void remove_disk_backlog(std::size_t bytes) override;
  std::size_t send_backlog() const override { return send_backlog_; }
  /// Chunks being read from disk for downloads: with many GETs in flight
  /// each would otherwise start a read before any reached the send queue.
  std::size_t read_ahead() const override { return read_ahead_; }
  void add_read_ahead(std::size_t bytes) override;
  /// Calls request->on_writable() once the send queue drained below its
  /// low-water mark (a download that stopped for a full queue).
  bool may_buffer(std::size_t bytes) const override;
  void notify_when_writable(std::weak_ptr<Request> request) override;
  void add_reply_memory(std::size_t bytes) override;
  void remove_reply_memory(std::size_t bytes) override;
  /// This connection's share of the server's memory budget.
  std::size_t budget_held() const { return budget_held_; }
  /// Runs `task` on a later turn of the loop (the Server's NextTurn).
  void defer(std::function<void()> task) override;
  /// Runs `run` now if fewer than kMaxListingsRunning listings run, the
  /// send queue is under its mark, the memory budget has room and a
  /// server-wide listing job slot (and hashing slot, if it `hashes`) is
  /// free; else when that changes. Listings start in the order they came.
  void start_listing(std::function<void()> run, bool hashes) override;
  void start_hashing(std::function<void()> run) override;
  StatBatcher* stat_batcher() override { return &stat_batcher_; }
  void hashing_done() override;
  bool try_extra_hashing() override;
  void extra_hashing_done() override;
  void listing_finished() override;
  void listing_job_done(bool hashes) override;
  void remove_read_ahead(std::size_t bytes) override;
  void log_access(const char* op, const std::string& path, std::uint64_t bytes,
                  std::chrono::steady_clock::time_point started, const std::string& result,
                  std::uint64_t resumed_from = 0) override;
  /// A protocol violation: tell the client, drop the connection.
  void fail_protocol(const std::string& reason) override;
  /// A frame or hello damaged in transit (FRAME_CHECK): logged, then the
  /// connection is closed with ERROR(0, FRAME_CHECK).
  void fail_frame_check(const std::string& reason);

 private:
  // Transport (session_transport.cpp) and TLS (session_tls.cpp).
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void on_tcp_closed(void* session) noexcept;
  static void on_flush_check(uv_check_t* check) noexcept;
  static void on_timer(uv_timer_t* timer) noexcept;
  static void on_pace_timer(uv_timer_t* timer) noexcept;
  /// --bwlimit (bandwidth_pacer.hpp): true when this connection must not
  /// move bytes in `direction` now; then the pace timer is armed for when
  /// it may. Never before authentication (the handshake is not paced).
  bool paced(BandwidthPacer::Direction direction);
  /// Counts bytes moved in `direction` against the server's buckets.
  void pace(BandwidthPacer::Direction direction, std::size_t bytes);
  void flush_outbox();
  /// Appends `first` then `second` to the replies of this turn of the loop
  /// (counted in the send backlog) and arms their flush.
  void append_to_outbox(ByteSpan first, ByteSpan second);
  void arm_flush();
  /// Downloads or listings wait for the send queue (or the read-ahead) to
  /// shrink: on_send_drained() has someone to wake.
  bool waiting_for_room() const { return !writable_waiters_.empty() || !listings_waiting_.empty(); }
  /// The send queue drained: wake the requests that waited for it.
  void on_send_drained();
  void handle_read(ssize_t nread, const uv_buf_t* buf);
  /// TLS: received ciphertext; drives the handshake, then the plaintext.
  void handle_ciphertext(ByteSpan bytes);
  /// TLS: moves decrypted bytes into the decoder and processes them, until
  /// the engine has no more or the session pauses.
  void drain_plaintext();
  /// TLS: writes what the engine has pending (handshake flights, alerts).
  void flush_tls();
  /// Sends a request's bytes, encrypting them first with TLS. Returns a
  /// libuv error code (the request is then dropped).
  int transmit(std::unique_ptr<WriteRequest> request);
  void begin_authentication();
  void finish_authentication(const KeyEntry& entry, int root_fd);
  void tls_failed(const char* when);
  /// A plaintext notice (hello + ERROR on id 0), then close.
  void refuse(ErrorCode code, const std::string& message);
  void hello_received();
  void check_deadline();
  /// --proxy-protocol (session_proxy.cpp): bytes of the balancer's PROXY
  /// header; once it is whole the connection is the client's it names.
  void handle_proxy_header(ByteSpan bytes);
  /// The peer's address is settled (after the PROXY header, if any): the
  /// per-address cap is applied and the handshake deadline runs.
  void admit_peer();
  /// A PROXY header from an address not in --proxy-protocol: a protocol
  /// error (true: the connection is closing).
  bool refuse_unexpected_proxy_header(ByteSpan first_bytes);
  void release_unauthenticated();
  void note_activity();
  void note_received(std::size_t bytes);
  /// Bytes read from and handed to the socket (TLS records included), for
  /// the metrics (session.cpp).
  void count_traffic(std::size_t received, std::size_t sent);

  // Frames (session.cpp).
  void process_input();
  /// Answers the client's hello (section 2) and turns FRAME_CHECK on when
  /// both sides offer it.
  void answer_hello();
  void handle_frame(Frame& frame);
  /// Whether request `id` may start; a `transfer` (PUT, GET) is refused
  /// with SHUTTING_DOWN while the server drains.
  bool admit_request(std::uint32_t id, bool transfer = false);
  /// Counts request `id`, admitted from a frame of `payload` bytes, in the
  /// memory budget until finish_request.
  void charge_request(std::uint32_t id, std::size_t payload);
  void update_reading();
  /// Recomputes this connection's share of the memory budget.
  void account();
  /// Beyond its allowance while the server's budget is spent: stop growing.
  bool over_budget() const;
  /// kSendHighWater / kSendLowWater, or their kTls halves on a server with keys.
  std::size_t send_high_water() const;
  std::size_t send_low_water() const;
  void budget_freed() override;
  void listing_slot_freed() override;
  /// Starts the listings that wait, as far as the caps and the send queue
  /// allow.
  void start_waiting_listings();
  bool listing_may_start() const;
  /// Memory a waiting listing counted on was given back (read-ahead, a
  /// reply's buffers): the listings that wait try again at the end of the
  /// loop turn, from the flush check rather than inside the caller.
  void wake_listings_later();
  /// Runs on_flush_check at the end of this loop turn.
  void arm_flush_check();
  void enter(Phase next);
  /// Plaintext may be decoded: the identity (if any) is settled.
  bool authenticated() const {
    return phase_ == Phase::kAwaitingHello || phase_ == Phase::kServing;
  }
  void references_dropped() override;
  /// Closes the three handles (once); the TCP handle's close callback tells
  /// the Server.
  void close_handles();

  Server& server_;
  uvx::Handle<uv_tcp_t> tcp_;
  uvx::Handle<uv_check_t> flush_check_;  // sends the replies of a loop turn together
  uvx::Handle<uv_timer_t> timer_;        // handshake deadline, then idle timeout
  uvx::Handle<uv_timer_t> pace_timer_;   // --bwlimit: the end of a paced pause
  Phase phase_;
  bool handles_closed_ = false;  // the TCP handle's close callback ran
  bool flush_armed_ = false;
  bool wake_listings_ = false;  // the flush check starts waiting listings
  Bytes outbox_;
  std::string peer_;
  std::string peer_host_;  // address without port: the unauthenticated cap's key
  Access access_;
  // Created by the first plaintext byte: an idle connection costs no buffer.
  std::unique_ptr<FrameDecoder> decoder_;
  std::unique_ptr<TlsEngine> tls_;  // with keys, from the first byte
  // From a --proxy-protocol address, until its header is whole: the
  // parser, and the area its bytes are read into (never past the header).
  std::unique_ptr<ProxyHeaderParser> proxy_;
  Bytes proxy_area_;
  bool first_read_ = true;  // no byte read yet (unexpected PROXY headers)
  // TLS: written ciphertext buffers kept for the next records, so that a
  // download does not fault in fresh pages for every chunk.
  std::size_t preauth_read_ = 0;  // TLS: bytes read before the handshake ended
  bool counted_unauthenticated_ = false;
  bool draining_ = false;                    // TLS: drain_plaintext() is on the stack
  std::uint64_t last_activity_ = 0;          // uv_now() of the last byte moved
  std::size_t last_write_queue_ = 0;         // tcp_.write_queue_size at the last progress
  std::size_t received_since_progress_ = 0;  // bytes read since then
  bool resume_ = false;                      // RESUME agreed in the handshake
  bool trees_ = false;                       // TREES agreed
  bool eager_ = false;                       // EAGER agreed
  bool stream_ = false;                      // STREAM agreed
  bool delete_ = false;                      // DELETE agreed
  bool link_ = false;                        // LINK agreed
  bool paced_ = false;                       // PACED agreed
  bool delta_put_ = false;                   // DELTA_PUT agreed
  bool delta_early_ = false;                 // DELTA_EARLY agreed (with DELTA_PUT)
  bool delta_get_ = false;                   // DELTA_GET agreed
  bool archive_ = false;                     // ARCHIVE agreed (section 5.9)
  bool sparse_ = false;                      // SPARSE agreed
  bool compress_ = false;                    // COMPRESS agreed
  bool owners_ = false;                      // OWNERS agreed: ATTRS may set owners
  bool frame_check_ = false;                 // FRAME_CHECK agreed: frames sent carry it
  bool reading_ = false;
  bool paused_ = false;  // backpressure: too much waits for the disk or the peer
  std::size_t disk_backlog_ = 0;
  std::size_t send_backlog_ = 0;
  std::size_t read_ahead_ = 0;
  std::size_t listings_running_ = 0;
  std::size_t reply_memory_ = 0;  // kept by requests for their replies
  std::size_t budget_held_ = 0;   // counted in the server's MemoryBudget
  std::vector<std::weak_ptr<Request>> writable_waiters_;
  struct WaitingListing {
    std::function<void()> run;
    bool hashes;
  };
  std::deque<WaitingListing> listings_waiting_;
  StatBatcher stat_batcher_{*this};  // the STATs in flight, run together
  std::unordered_map<std::uint32_t, std::shared_ptr<Request>> requests_;
  std::unordered_map<std::uint32_t, std::size_t> request_charges_;  // see charge_request
  std::size_t requests_charge_ = 0;
  std::unordered_set<std::uint32_t> discarding_;
  std::deque<std::uint32_t> discard_order_;
};

}  // namespace ft::server
