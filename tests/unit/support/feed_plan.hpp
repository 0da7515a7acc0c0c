#pragma once
// How the codec tests push a byte stream into a FrameDecoder: whole, byte by
// byte or in random splits from a seeded generator, through feed() or the
// zero-copy write_area()/commit() path. Every stream test runs over all plans.
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "common/wire/frame.hpp"

namespace ft::test {

enum class Split { kWhole, kByteByByte, kRandom };
enum class Input { kFeed, kWriteArea };

/// One way of cutting a stream into pieces and handing them to a decoder.
struct FeedPlan {
  Split split = Split::kWhole;
  std::uint32_t seed = 0;  // used by kRandom only
  Input input = Input::kFeed;
};

/// "whole_feed", "bytes_write_area", "random7_feed": a valid test name suffix.
std::string plan_name(const FeedPlan& plan);
/// Lets GoogleTest print a plan by its name.
inline void PrintTo(const FeedPlan& plan, std::ostream* os) {
  *os << plan_name(plan);
}

/// Every plan the stream tests run: whole, byte by byte and several random
/// seeds, each through both input paths.
std::vector<FeedPlan> all_feed_plans();

/// Cuts a stream of a given length into chunk lengths according to a plan.
/// Random splits mix tiny, medium and large pieces so that both the staging
/// buffer and the direct payload area are exercised.
class Chunker {
 public:
  explicit Chunker(const FeedPlan& plan) : plan_(plan), rng_(plan.seed) {}
  /// Length of the next chunk, 1 to `remaining` (remaining > 0).
  std::size_t next(std::size_t remaining);

 private:
  FeedPlan plan_;
  std::mt19937 rng_;
};

/// What a decoder made of a stream.
struct DecodeRun {
  std::vector<Hello> hellos;
  std::vector<Frame> frames;
  /// decoder.offset() right after each hello or frame was returned.
  std::vector<std::uint64_t> item_end_offsets;
  std::optional<DecodeError> error;
  /// Bytes handed to the decoder when the error was first reported.
  std::size_t fed_at_error = 0;
  /// Bytes handed to the decoder in total.
  std::size_t fed = 0;
  /// What finish() answered (kNeedMore when the stream ended cleanly).
  std::optional<DecodeStatus> finish_status;
};

/// Pushes `stream` into a fresh decoder following `plan`, calling next() until
/// kNeedMore after every piece, and stops at the first error. Calls finish()
/// at the end when `call_finish` and no error happened before.
DecodeRun run_decoder(ByteSpan stream, const FrameDecoder::Options& options, const FeedPlan& plan,
                      bool call_finish = true);

/// Options for a decoder reading what `sender` writes, hello expected.
FrameDecoder::Options options_for(Sender sender);

/// Deterministic pseudo-random bytes.
Bytes pattern_bytes(std::size_t n, std::uint32_t seed);

}  // namespace ft::test
