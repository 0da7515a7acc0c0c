#include "common/wire/frame.hpp"

#include <algorithm>
#include <cstring>

#include "common/base/hex.hpp"
#include "common/wire/frame_check.hpp"

namespace ft {

namespace {

// The frame table as an array indexed by the type byte, built at compile
// time, so a header costs one load to classify.
struct FrameTable {
  FrameTypeInfo rows[256];
  constexpr FrameTable() : rows{} {
    for (auto& row : rows) row = FrameTypeInfo{nullptr, FrameDirection::kBoth, 0, 0};
#define FT_X(name, spelling, code, direction, flags, bulk)                                 \
  rows[code] =                                                                             \
      FrameTypeInfo{spelling, FrameDirection::direction, static_cast<std::uint8_t>(flags), \
                    (bulk) ? limits::kMaxDataPayload : limits::kMaxControlPayload};
    FT_FRAME_TYPES(FT_X)
#undef FT_X
  }
};

constexpr FrameTable kFrameTable;

bool may_send(FrameDirection direction, Sender sender) {
  switch (direction) {
    case FrameDirection::kBoth:
      return true;
    case FrameDirection::kClientToServer:
      return sender == Sender::kClient;
    case FrameDirection::kServerToClient:
      return sender == Sender::kServer;
  }
  return false;
}

}  // namespace

FrameCheckOffer frame_check_offer(std::uint32_t capabilities) {
  switch (capabilities & kCapFrameCheckPair) {
    case 0:
      return FrameCheckOffer::kAbsent;
    case kCapFrameCheckPair:
      return FrameCheckOffer::kOffered;
    default:
      return FrameCheckOffer::kCorrupted;
  }
}

const FrameTypeInfo& frame_type_info(std::uint8_t type) {
  return kFrameTable.rows[type];
}

std::string frame_type_name(std::uint8_t type) {
  if (const char* name = frame_type_info(type).name) return name;
  return std::string("0x") + hex_digit_of(type >> 4) + hex_digit_of(type);
}

bool frame_type_allowed(std::uint8_t type, Sender sender) {
  const FrameTypeInfo& info = frame_type_info(type);
  return info.name != nullptr && may_send(info.direction, sender);
}

std::uint32_t max_payload_for(FrameType type) {
  return frame_type_info(static_cast<std::uint8_t>(type)).max_payload;
}

void encode_hello(Bytes& out, const Hello& hello) {
  ByteWriter w(out);
  w.raw(ByteSpan(kMagic, sizeof kMagic));
  w.u16(hello.version_min);
  w.u16(hello.version_max);
  w.u32(hello.capabilities);
}

void encode_header_to(std::uint8_t* out, const FrameHeader& header) {
  out[0] = static_cast<std::uint8_t>(header.type);
  out[1] = header.flags;
  out[2] = 0;
  out[3] = 0;
  store_be32(out + 4, header.request_id);
  store_be32(out + 8, header.payload_length);
}

void encode_header(Bytes& out, const FrameHeader& header) {
  std::size_t at = out.size();
  out.resize(at + limits::kFrameHeaderSize);
  encode_header_to(out.data() + at, header);
}

std::string to_string(DecodeErrorKind kind) {
  switch (kind) {
    case DecodeErrorKind::kBadMagic:
      return "bad magic";
    case DecodeErrorKind::kWrongVersion:
      return "wrong version";
    case DecodeErrorKind::kUnknownType:
      return "unknown frame type";
    case DecodeErrorKind::kWrongDirection:
      return "frame type not allowed in this direction";
    case DecodeErrorKind::kBadFlags:
      return "reserved flag bits set";
    case DecodeErrorKind::kReservedNotZero:
      return "reserved header field not zero";
    case DecodeErrorKind::kZeroRequestId:
      return "request id 0";
    case DecodeErrorKind::kPayloadTooLarge:
      return "payload too large";
    case DecodeErrorKind::kTruncated:
      return "truncated";
    case DecodeErrorKind::kFrameCheck:
      return "frame check failed";
  }
  return "unknown decode error";
}

FrameDecoder::FrameDecoder(Options options)
    : options_(options),
      state_(options.expect_hello ? State::kHello : State::kHeader),
      staging_(std::max(options.staging_size, kMinStagingSize)) {}

std::span<std::uint8_t> FrameDecoder::write_area() {
  if (state_ == State::kFailed) return {};
  if (state_ == State::kPayload && staged() == 0) {
    last_area_direct_ = true;
    // The payload grows as its bytes arrive, within the capacity reserved
    // at its header: pages are touched only when bytes are received into
    // them, so a header alone costs nothing resident, and no byte is ever
    // moved. Each step is as large as what arrived so far (at least
    // kPayloadStep), so a large payload takes few reads.
    const std::size_t missing = frame_.header.payload_length - payload_filled_;
    // A recycled buffer's pages are resident already: the rest of the
    // payload may come in one read (fewer reads, fewer ACKs to send).
    const std::size_t step =
        payload_pooled_ ? missing : std::min(missing, std::max(kPayloadStep, payload_filled_));
    if (frame_.payload.size() < payload_filled_ + step)
      frame_.payload.resize(payload_filled_ + step);
    return std::span<std::uint8_t>(frame_.payload).subspan(payload_filled_, step);
  }
  last_area_direct_ = false;
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0 && staging_.size() - end_ < limits::kFrameHeaderSize * 2) {
    std::memmove(staging_.data(), staging_.data() + begin_, staged());
    end_ -= begin_;
    begin_ = 0;
  }
  return std::span<std::uint8_t>(staging_).subspan(end_);
}

void FrameDecoder::commit(std::size_t n) {
  if (last_area_direct_) {
    payload_filled_ += n;
  } else {
    end_ += n;
  }
}

std::size_t FrameDecoder::feed(ByteSpan bytes) {
  std::span<std::uint8_t> area = write_area();
  std::size_t n = std::min(area.size(), bytes.size());
  if (n > 0) std::memcpy(area.data(), bytes.data(), n);
  commit(n);
  return n;
}

DecodeStatus FrameDecoder::fail(DecodeErrorKind kind, std::uint64_t at, std::string reason) {
  state_ = State::kFailed;
  error_ = DecodeError{kind, at, std::move(reason)};
  return DecodeStatus::kError;
}

DecodeStatus FrameDecoder::next() {
  switch (state_) {
    case State::kFailed:
      return DecodeStatus::kError;
    case State::kHello:
      return decode_hello();
    case State::kHeader:
      return decode_header();
    case State::kPayload:
      return fill_payload();
  }
  return DecodeStatus::kError;
}

DecodeStatus FrameDecoder::decode_hello() {
  const std::uint8_t* p = staging_.data() + begin_;
  // Check the magic byte by byte so that a peer speaking HTTP or TLS is
  // refused on its first byte instead of after 16.
  std::size_t check = std::min(staged(), sizeof kMagic);
  for (std::size_t i = 0; i < check; ++i) {
    if (p[i] != kMagic[i]) {
      return fail(DecodeErrorKind::kBadMagic, stream_offset_ + i,
                  "bad magic at byte " + std::to_string(i) + " (not an ft peer)");
    }
  }
  if (staged() < limits::kHelloSize) return DecodeStatus::kNeedMore;
  hello_.version_min = load_be16(p + 8);
  hello_.version_max = load_be16(p + 10);
  hello_.capabilities = load_be32(p + 12);
  if (hello_.version_min > hello_.version_max || hello_.version_max < options_.version_min ||
      hello_.version_min > options_.version_max) {
    return fail(DecodeErrorKind::kWrongVersion, stream_offset_ + 8,
                "peer speaks versions " + std::to_string(hello_.version_min) + ".." +
                    std::to_string(hello_.version_max) + ", we speak " +
                    std::to_string(options_.version_min) + ".." +
                    std::to_string(options_.version_max));
  }
  begin_ += limits::kHelloSize;
  stream_offset_ += limits::kHelloSize;
  state_ = State::kHeader;
  return DecodeStatus::kHello;
}

DecodeStatus FrameDecoder::decode_header() {
  if (staged() < header_size()) return DecodeStatus::kNeedMore;
  const std::uint8_t* p = staging_.data() + begin_;
  const std::uint64_t at = stream_offset_;
  if (options_.frame_check) {
    // Before any field is believed: a flipped bit in the type or the length
    // is a damaged frame, not a peer breaking the protocol, and a length
    // believed would have us wait for bytes that never come.
    const std::uint32_t sent = load_be32(p + limits::kFrameHeaderSize);
    if (sent != header_check(p)) {
      return fail(DecodeErrorKind::kFrameCheck, at + limits::kFrameHeaderSize,
                  "frame header failed its check (damaged in transit)");
    }
    payload_check_ = load_be32(p + limits::kFrameHeaderSize + 4);
  }
  const std::uint8_t type = p[0];
  const std::uint8_t flags = p[1];
  const FrameTypeInfo& info = frame_type_info(type);
  if (info.name == nullptr) {
    return fail(DecodeErrorKind::kUnknownType, at, "unknown frame type " + frame_type_name(type));
  }
  const std::string_view name = info.name;
  if (!may_send(info.direction, options_.sender)) {
    return fail(DecodeErrorKind::kWrongDirection, at,
                std::string(name) + " may not be sent by the " +
                    (options_.sender == Sender::kClient ? "client" : "server"));
  }
  const auto frame_type = static_cast<FrameType>(type);
  if ((flags & ~info.allowed_flags) != 0) {
    return fail(DecodeErrorKind::kBadFlags, at + 1,
                "reserved flag bits set on " + std::string(name) + ": " + std::to_string(flags));
  }
  if (p[2] != 0 || p[3] != 0) {
    return fail(DecodeErrorKind::kReservedNotZero, at + 2, "reserved header bytes not zero");
  }
  FrameHeader header;
  header.type = frame_type;
  header.flags = flags;
  header.request_id = load_be32(p + 4);
  header.payload_length = load_be32(p + 8);
  if (header.request_id == 0 && frame_type != FrameType::kError) {
    return fail(DecodeErrorKind::kZeroRequestId, at + 4, std::string(name) + " with request id 0");
  }
  if (header.payload_length > info.max_payload) {
    return fail(DecodeErrorKind::kPayloadTooLarge, at + 8,
                std::string(name) + " payload of " + std::to_string(header.payload_length) +
                    " bytes exceeds the limit of " + std::to_string(info.max_payload));
  }
  begin_ += header_size();
  frame_.header = header;
  // Only address space is taken here (bounded by the check above): the
  // payload is filled in as it arrives (write_area, fill_payload), so a
  // header that declares 4 MiB and stops costs no resident memory. A pooled
  // buffer is reused only for a payload of about its size, whose pages it
  // would touch anyway.
  frame_.payload = take_recycled(header.payload_length);
  payload_pooled_ = !frame_.payload.empty();
  frame_.payload.reserve(header.payload_length);
  payload_filled_ = 0;
  state_ = State::kPayload;
  return fill_payload();
}

DecodeStatus FrameDecoder::fill_payload() {
  const std::size_t length = frame_.header.payload_length;
  std::size_t n = std::min(length - payload_filled_, staged());
  if (n > 0) {
    if (frame_.payload.size() < payload_filled_ + n) frame_.payload.resize(payload_filled_ + n);
    std::memcpy(frame_.payload.data() + payload_filled_, staging_.data() + begin_, n);
    begin_ += n;
    payload_filled_ += n;
  }
  if (payload_filled_ < length) return DecodeStatus::kNeedMore;
  // The whole frame, its payload staged or received in place.
  frame_.payload.resize(length);
  // The frame is handed out only once its payload passed the check: a PUT
  // whose path was damaged never reaches the code that would create it.
  if (options_.frame_check && payload_check(static_cast<std::uint8_t>(frame_.header.type),
                                            frame_.payload) != payload_check_) {
    return fail(DecodeErrorKind::kFrameCheck, stream_offset_ + header_size(),
                frame_type_name(static_cast<std::uint8_t>(frame_.header.type)) +
                    " payload failed its check (damaged in transit)");
  }
  stream_offset_ += header_size() + length;
  state_ = State::kHeader;
  return DecodeStatus::kFrame;
}

void FrameDecoder::recycle(Bytes&& buffer) {
  if (buffer.capacity() < kPoolMinimum || pool_.size() >= kPoolCapacity) return;
  // Keep the buffer at its full size: a later resize to a length up to that
  // size then neither allocates nor fills.
  buffer.resize(buffer.capacity());
  pooled_bytes_ += buffer.capacity();
  pool_.push_back(std::move(buffer));
}

Bytes FrameDecoder::take_recycled(std::size_t size) {
  if (size < kPoolMinimum) return {};
  // The smallest buffer that fits: uploads mix compressed payloads with
  // whole chunks, and the last buffer given back is often the wrong size.
  auto best = pool_.end();
  for (auto it = pool_.begin(); it != pool_.end(); ++it) {
    const std::size_t capacity = it->capacity();
    if (capacity < size || capacity / 2 > size) continue;
    if (best == pool_.end() || capacity < best->capacity()) best = it;
  }
  if (best == pool_.end()) return {};
  Bytes buffer = std::move(*best);
  pool_.erase(best);
  pooled_bytes_ -= buffer.capacity();
  buffer.resize(size);  // kept at full size (recycle): nothing to fill
  return buffer;
}

void FrameDecoder::release_pool() {
  pool_.clear();
  pool_.shrink_to_fit();
  pooled_bytes_ = 0;
}

std::size_t FrameDecoder::buffered_bytes() const {
  if (state_ != State::kPayload) return pooled_bytes_;
  // A recycled buffer is resident in full, a fresh one as far as it is filled.
  return pooled_bytes_ + (payload_pooled_ ? frame_.payload.capacity() : payload_filled_);
}

DecodeStatus FrameDecoder::finish() {
  if (state_ == State::kFailed) return DecodeStatus::kError;
  const bool mid_item = staged() > 0 || state_ == State::kPayload;
  if (!mid_item) return DecodeStatus::kNeedMore;
  std::string what = state_ == State::kHello ? "hello" : "frame";
  return fail(DecodeErrorKind::kTruncated, stream_offset_,
              "stream ended inside a " + what + " at offset " +
                  std::to_string(stream_offset_ + staged() + payload_filled_ +
                                 (state_ == State::kPayload ? header_size() : 0)));
}

}  // namespace ft
