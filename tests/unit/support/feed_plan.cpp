#include "feed_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

namespace ft::test {

std::string plan_name(const FeedPlan& plan) {
  std::string name;
  switch (plan.split) {
    case Split::kWhole:
      name = "whole";
      break;
    case Split::kByteByByte:
      name = "bytes";
      break;
    case Split::kRandom:
      name = "random" + std::to_string(plan.seed);
      break;
  }
  return name + (plan.input == Input::kFeed ? "_feed" : "_write_area");
}

std::vector<FeedPlan> all_feed_plans() {
  std::vector<FeedPlan> plans;
  for (Input input : {Input::kFeed, Input::kWriteArea}) {
    plans.push_back({Split::kWhole, 0, input});
    plans.push_back({Split::kByteByByte, 0, input});
    for (std::uint32_t seed : {1u, 7u, 42u, 2024u}) plans.push_back({Split::kRandom, seed, input});
  }
  return plans;
}

std::size_t Chunker::next(std::size_t remaining) {
  switch (plan_.split) {
    case Split::kWhole:
      return remaining;
    case Split::kByteByByte:
      return 1;
    case Split::kRandom:
      break;
  }
  // Raw engine output (not a distribution) keeps the splits identical across
  // standard libraries.
  std::uint32_t pick = rng_() % 10;
  std::size_t limit = pick < 5 ? 16 : pick < 8 ? 4096 : 300000;
  return std::min<std::size_t>(remaining, 1 + rng_() % limit);
}

FrameDecoder::Options options_for(Sender sender) {
  FrameDecoder::Options options;
  options.sender = sender;
  return options;
}

DecodeRun run_decoder(ByteSpan stream, const FrameDecoder::Options& options, const FeedPlan& plan,
                      bool call_finish) {
  DecodeRun run;
  FrameDecoder decoder(options);
  Chunker chunker(plan);
  std::size_t pos = 0;

  // Takes every decoded item; false once the decoder reports an error.
  auto drain = [&]() {
    for (;;) {
      switch (decoder.next()) {
        case DecodeStatus::kNeedMore:
          return true;
        case DecodeStatus::kHello:
          run.hellos.push_back(decoder.hello());
          run.item_end_offsets.push_back(decoder.offset());
          break;
        case DecodeStatus::kFrame:
          run.frames.push_back(decoder.take_frame());
          run.item_end_offsets.push_back(decoder.offset());
          break;
        case DecodeStatus::kError:
          run.error = decoder.error();
          run.fed_at_error = pos;
          return false;
      }
    }
  };

  while (pos < stream.size()) {
    ByteSpan chunk = stream.subspan(pos, chunker.next(stream.size() - pos));
    while (!chunk.empty()) {
      std::size_t n = 0;
      if (plan.input == Input::kFeed) {
        n = decoder.feed(chunk);
      } else {
        std::span<std::uint8_t> area = decoder.write_area();
        n = std::min(area.size(), chunk.size());
        if (n > 0) std::memcpy(area.data(), chunk.data(), n);
        decoder.commit(n);
      }
      chunk = chunk.subspan(n);
      pos += n;
      run.fed = pos;
      if (!drain()) return run;
      if (n == 0) {
        ADD_FAILURE() << "decoder took no bytes at stream offset " << pos;
        return run;
      }
    }
  }
  if (call_finish) {
    run.finish_status = decoder.finish();
    if (*run.finish_status == DecodeStatus::kError) {
      run.error = decoder.error();
      run.fed_at_error = pos;
    }
  }
  return run;
}

Bytes pattern_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng() >> 24);
  return out;
}

}  // namespace ft::test
