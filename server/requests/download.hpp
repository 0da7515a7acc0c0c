#pragma once
// Sending one file (GET): jobs on the thread pool read and hash one chunk at
// a time, in order; the loop sends each as a DATA frame. Reading ahead stops
// while the session's send queue is above its high-water mark. END carries
// the whole-file XXH3-128, after a check that the file did not change. A
// file of at most kWholeFileMax bytes (from the GET's offset) is opened,
// read, checked and closed by one job (for a GET from offset 0, in the
// server's shared JobBatcher), and its GET_READY, DATA and END leave
// together. A delta download (docs/protocol.md, section 5.16) first
// takes the client's signature of its older copy, then matches the file
// against it a window at a time on the thread pool and sends COPY frames
// for what the client holds, DATA for the rest (download_delta.cpp).
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/crypto/checksum.hpp"
#include "common/delta/delta_matcher.hpp"
#include "common/os/sparse.hpp"
#include "common/wire/messages.hpp"
#include "server/core/request_context.hpp"
#include "server/storage/root_fs.hpp"

namespace ft::server {

class Download : public Request, public std::enable_shared_from_this<Download> {
 public:
  static constexpr std::uint32_t kChunkSize = limits::kDefaultChunkSize;
  /// The most a file may hold (past the offset) to be read by its open job.
  static constexpr std::size_t kWholeFileMax = 16 * 1024;
  static_assert(kWholeFileMax <= kChunkSize, "a whole small file is one DATA frame");

  /// The window of the file a delta download's job matches at once (or
  /// the matcher's minimum, if larger: 9 MiB for 4 MiB blocks).
  static constexpr std::size_t kDeltaWindow = 4 * 1024 * 1024;

  /// `delta`: the GET carried flag DELTA; SIGNATURE frames follow.
  static std::shared_ptr<Download> start(RequestContext& context, std::uint32_t id, GetMsg get,
                                         bool delta = false);
  Download(RequestContext& context, std::uint32_t id, GetMsg get, bool delta);
  void on_writable() override { pump(); }
  /// SIGNATURE frames of a delta download; anything else is a violation.
  bool on_frame(Frame& frame) override;
  std::string frame_violation() const override { return violation_; }
  void abort(ErrorCode code, bool notify) override;
  bool waiting_on_disk() const override { return job_running_ || !compressing_.empty(); }

 private:
  struct DiskState {
    Fd file;
    struct stat initial {};
    StreamHash128 hash;
    std::optional<DataRangeCursor> data_ranges;  // SPARSE: made by the first read
  };
  /// What the open job read of a small file: its one chunk and END.
  struct WholeFile {
    bool read = false;  // the job read it (or failed reading it)
    int read_error = 0;
    std::shared_ptr<Bytes> data;
    std::uint64_t chunk_hash = 0;
    Hash128 digest{};
    bool changed = false;     // fstat after the read differs: not sent
    bool compressed = false;  // `data` holds the chunk's zstd frame (COMPRESS)
  };
  /// compress_level()'s answer when COMPRESS was not agreed.
  static constexpr int kNoCompression = -1000;
  /// The zstd level this download's chunks are compressed at, or
  /// kNoCompression.
  int compress_level() const;
  void open();
  /// Runs the open job: in the server's JobBatcher when `batched`, else as
  /// a thread-pool job of its own.
  void queue_open_job(bool batched, std::function<void()> work, std::function<void()> done);
  /// On the pool: reads from `offset` to the end, hashes, checks and closes.
  /// `level`: compress the chunk (COMPRESS), or kNoCompression.
  static void read_whole(DiskState& disk, WholeFile& whole, std::uint64_t offset, int level);
  /// A small file the open job did not read: read whole by a batched job
  /// of its own (or by pump() while there is no room for it).
  void read_whole_later();
  /// On the loop, after GET_READY: DATA (if any bytes) and END, or the error.
  void send_whole(const WholeFile& whole);
  void pump();
  void send_end();
  // Compressed downloads (download_compress.cpp): the read job reads and
  // hashes a chunk as for a plain download; a job of its own compresses
  // it, up to kCompressJobs chunks at once on the pool, sent in order.
  /// Chunks one download compresses at once: two keep the link busy while
  /// one is compressed (a chunk takes about as long to compress at level 1
  /// as to send compressed over 1 GbE).
  static constexpr std::size_t kCompressJobs = 2;
  /// A chunk read for a compressed download, from its read until it is sent.
  struct CompressedChunk {
    std::uint64_t offset = 0;
    std::uint64_t hole = 0;  // SPARSE: a HOLE of this many bytes, nothing to compress
    std::shared_ptr<Bytes> buffer;
    std::uint64_t chunk_hash = 0;
    std::size_t read_ahead = 0;  // counted in the read-ahead until sent
    bool compressed = false;     // `buffer` holds its zstd frame
    bool done = false;
  };
  /// On a pool thread: replaces the chunk in `buffer` by its zstd frame at
  /// `level` when that is worth sending; true if it did.
  static bool compress_in_place(Bytes& buffer, int level);
  /// Queues a chunk just read (or a hole) behind those being compressed
  /// and starts its job.
  void compress_then_send(std::shared_ptr<CompressedChunk> chunk, int level);
  /// Sends the chunks whose job is done, in order, up to the first that is
  /// not; then reads on.
  void send_compressed();
  // Delta downloads (download_delta.cpp).
  /// What the matching job holds between windows: the index, built by the
  /// first job from the signature, and the matcher's state.
  struct DeltaState {
    delta::Signature signature;
    std::unique_ptr<delta::BlockIndex> index;
    std::unique_ptr<delta::DeltaMatcher> matcher;
  };
  /// The signature is whole and GET_READY was sent: match, or send the
  /// file plainly if the signature has no block.
  void begin_delta();
  void delta_pump();
  /// Sets the memory counted for the signature or its index.
  void charge_signature(std::size_t bytes);
  void fail(ErrorCode code, const std::string& message);
  void finish(const std::string& result);
  void close_file();
  /// A chunk buffer of `length` bytes: one whose DATA frame was written, or
  /// a new one.
  std::shared_ptr<Bytes> chunk_buffer(std::size_t length);
  /// Frees the kept chunk buffers not in use (`all`: forgets every one).
  void release_buffers(bool all);

  ContextRef context_;
  std::uint32_t id_;
  GetMsg get_;
  std::shared_ptr<DiskState> disk_;
  // Chunk buffers, reused once the session let go of them: a fresh 1 MiB
  // buffer per chunk cost a zero fill and 256 page faults each time.
  std::vector<std::shared_ptr<Bytes>> buffers_;
  std::size_t buffers_bytes_ = 0;  // their capacity, counted as reply memory
  std::uint64_t size_ = 0;
  std::uint64_t next_offset_ = 0;
  bool streaming_ = false;
  bool job_running_ = false;
  std::deque<std::shared_ptr<CompressedChunk>> compressing_;  // in file order
  bool finished_ = false;
  std::chrono::steady_clock::time_point started_;
  bool delta_ = false;            // the GET carried DELTA
  bool delta_active_ = false;     // matching: COPY and DATA from delta_pump()
  delta::Signature signature_;    // the client's, while it arrives
  bool signature_whole_ = false;  // its last part arrived
  std::shared_ptr<DeltaState> delta_state_;
  std::size_t signature_charge_ = 0;  // counted in the disk backlog
  std::uint64_t literal_bytes_ = 0;   // sent as DATA by a delta download
  std::string violation_;
};

}  // namespace ft::server
