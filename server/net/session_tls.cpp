// Session with keys: the TLS 1.3 engine between the socket and the frame
// decoder, and authentication (the handshake names the identity, whose
// directory is opened before anything is decoded).
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/rules/path_rules.hpp"
#include "server/log/log.hpp"
#include "server/net/notice.hpp"
#include "server/net/server.hpp"
#include "server/net/session.hpp"

namespace ft::server {

void Session::handle_ciphertext(ByteSpan bytes) {
  if (!tls_) {
    if (bytes[0] == kMagic[0]) {
      // A plain ft client: tell it why, in its own protocol.
      log::warn("peer=%s: plain ft client refused: a key is required", peer_.c_str());
      refuse(ErrorCode::AUTH_REQUIRED, "this server requires a key: use --key-file");
      return;
    }
    if (bytes[0] != 0x16) {  // not a TLS handshake record
      log::warn("peer=%s: neither TLS nor ft (first byte 0x%02x)", peer_.c_str(), bytes[0]);
      close(ErrorCode::PROTOCOL, "not a TLS client", false);
      return;
    }
    tls_ = std::make_unique<TlsEngine>(server_.options().tls);
  }
  const bool was_open = tls_->open();
  if (!was_open) preauth_read_ += bytes.size();
  if (!tls_->feed(bytes)) {
    tls_failed(was_open ? "TLS" : "TLS handshake");
    return;
  }
  flush_tls();
  if (closing()) return;
  if (!was_open && tls_->open()) {
    begin_authentication();
  } else if (authenticated()) {
    drain_plaintext();
  }
  if (closing()) return;
  account();  // what the engine still holds counts (drain stops when paused)
  if (over_budget()) update_reading();
  if (!closing() && !tls_->open() && preauth_read_ >= server_.options().max_preauth_bytes) {
    log::warn("peer=%s: more than %zu bytes without completing the handshake", peer_.c_str(),
              server_.options().max_preauth_bytes);
    close(ErrorCode::PROTOCOL, "handshake too long", false);
  }
}

void Session::tls_failed(const char* when) {
  // The engine's error names the stage already ("TLS handshake failed: ...").
  if (tls_->error().empty()) {
    log::warn("peer=%s: %s failed", peer_.c_str(), when);
  } else {
    log::warn("peer=%s: %s", peer_.c_str(), tls_->error().c_str());
  }
  // The alert that tells the peer why, best effort; then nothing more.
  Bytes alert;
  tls_->take_pending(alert);
  write_last_words(tcp_.stream(), alert);
  close(ErrorCode::PROTOCOL, tls_->error(), false);
}

void Session::drain_plaintext() {
  if (draining_ || !authenticated() || !tls_) return;
  draining_ = true;
  while (!closing() && !paused_) {
    process_input();  // what the decoder already holds goes first
    if (closing() || paused_) break;
    std::span<std::uint8_t> area = decoder_->write_area();
    if (area.empty()) break;
    // While the server's memory budget is spent, a payload grows by no
    // more than an allowance at a time (as for plaintext reads).
    if (server_.budget().tight())
      area = area.first(std::min(area.size(), MemoryBudget::kAllowance));
    std::size_t n = tls_->read(area);
    if (n == 0) break;
    decoder_->commit(n);
    account();
    if (over_budget()) update_reading();
  }
  draining_ = false;
  if (closing()) return;
  if (tls_->state() == TlsEngine::State::kFailed) {
    tls_failed("TLS");
    return;
  }
  flush_tls();
}

void Session::begin_authentication() {
  const KeyEntry* entry = server_.find_key(tls_->peer_identity());
  if (entry == nullptr) {
    // The engine only completes handshakes for known identities.
    log::error("peer=%s: unknown identity after the handshake", peer_.c_str());
    close(ErrorCode::INTERNAL, "unknown identity", false);
    return;
  }
  if (int root = server_.identity_root(*entry); root >= 0) {
    finish_authentication(*entry, root);
    return;
  }
  // The identity's directory is opened (or created) on the thread pool;
  // nothing is read meanwhile. The job's reference keeps this session's
  // memory, not its connection, until it completes.
  enter(Phase::kAuthenticating);
  update_reading();
  server_.open_identity_root(*entry, [context = ContextRef(*this), this, entry](int err) {
    if (closing()) return;
    try {
      int root = server_.identity_root(*entry);
      if (err == ELOOP) {
        // Reached through a symbolic link, it would be another tree: the
        // administrator must see why this identity gets nothing.
        log::error(
            "peer=%s: identity %s: refused: its directory %s is (or passes "
            "through) a symbolic link",
            peer_.c_str(), entry->name.c_str(), printable(entry->subdir).c_str());
        close(ErrorCode::PATH_ESCAPES_ROOT,
              "this identity's directory is a symbolic link on the server", true);
        return;
      }
      if (err != 0 || root < 0) {
        log::error("peer=%s: identity %s: cannot open its directory %s: %s", peer_.c_str(),
                   entry->name.c_str(), printable(entry->subdir).c_str(),
                   std::strerror(err != 0 ? err : ENOENT));
        close(ErrorCode::INTERNAL, "cannot open this identity's directory", true);
        return;
      }
      finish_authentication(*entry, root);
    } catch (...) {
      close(ErrorCode::INTERNAL, "internal error", true);
    }
  });
}

void Session::finish_authentication(const KeyEntry& entry, int root_fd) {
  access_.identity = entry.name;
  access_.rights = effective_rights(entry.rights, server_.options());
  access_.root_fd = root_fd;
  access_.reserved = server_.reserved_beneath(entry);
  access_.quota_tree = entry.subdir;
  access_.quota_bytes = entry.quota_bytes;
  access_.quota_files = entry.quota_files;
  enter(Phase::kAwaitingHello);
  // The name, never the key or the id (the id is sent in the clear anyway,
  // but the name is what the administrator knows).
  log::info("peer=%s authenticated as %s rights=%s subdir=%s", peer_.c_str(), entry.name.c_str(),
            format_rights(access_.rights).c_str(),
            entry.subdir.empty() ? "-" : printable(entry.subdir).c_str());
  if (!decoder_) {
    // Plaintext comes a record (at most 16 KiB) at a time: a smaller
    // staging area than a socket reader's saves 48 KiB per connection.
    decoder_ = std::make_unique<FrameDecoder>(FrameDecoder::Options{
        .sender = Sender::kClient, .staging_size = FrameDecoder::kMinStagingSize});
  }
  update_reading();
  drain_plaintext();
}

void Session::flush_tls() {
  if (!tls_ || closing() || tls_->pending() == 0) return;
  auto request = std::make_unique<WriteRequest>();
  request->head.reserve(tls_->pending());
  tls_->take_pending(request->head);
  // Write callbacks run before the TCP handle's close callback, and the
  // session outlives that: `this` is safe here.
  request->on_written = [this](int status) {
    if (status == 0) note_activity();
  };
  (void)start_write(tcp_.stream(), std::move(request));
}

int Session::transmit(std::unique_ptr<WriteRequest> request) {
  if (tls_) {
    // One engine write per piece: the 1 MiB body of a DATA becomes full
    // records in one call, and the ciphertext replaces the plaintext.
    if (!tls_->open()) return UV_EPIPE;
    // A large reply's records go into a buffer sized for them: grown record
    // by record it would end twice that size, copied at each doubling. No
    // buffer is kept between writes (a pool of them, kept for reuse, held
    // up to 4 MiB more at the peak of a download followed by an upload).
    const std::size_t plain = request->head.size() + (request->body ? request->body_length : 0);
    if (plain >= kSizedCipherMin) tls_->reserve_output(plain);
    bool ok = tls_->write(request->head);
    if (ok && request->body && request->body_length > 0) {
      ok =
          tls_->write(ByteSpan(request->body->data() + request->body_offset, request->body_length));
    }
    if (!ok) return UV_EPROTO;
    // The records leave the engine without a copy (it keeps no storage)
    // and are freed once written.
    Bytes cipher;
    tls_->take_pending(cipher);
    auto buffer = std::make_shared<Bytes>(std::move(cipher));
    request->head.clear();
    request->body = buffer;
    request->body_offset = 0;
    request->body_length = buffer->size();
  } else if (server_.options().tls) {
    return UV_EPIPE;  // never plaintext on a TLS server
  }
  count_traffic(0, request->size());
  pace(BandwidthPacer::Direction::kOut, request->size());
  return start_write(tcp_.stream(), std::move(request));
}

}  // namespace ft::server
