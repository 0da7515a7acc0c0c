#include "server/storage/space_ledger.hpp"

#include <algorithm>

namespace ft::server {

/// What a kept partial file still lacks, on the file system it counts on.
struct KeptPartial {
  dev_t device;
  std::uint64_t bytes;
};

struct SpaceClaim::Books {
  std::mutex mutex;
  std::unordered_map<dev_t, Outstanding> devices;
  std::map<FileId, KeptPartial> kept;  // at most one entry per kept partial file
  std::set<FileId> open;               // partial files open uploads hold

  // The helpers below run with the mutex held.
  void add(dev_t device, std::uint64_t bytes, std::uint64_t files) {
    Outstanding& owed = devices[device];
    owed.bytes += bytes;
    owed.files += files;
  }
  void take(dev_t device, std::uint64_t bytes, std::uint64_t files) {
    auto found = devices.find(device);
    if (found == devices.end()) return;
    found->second.bytes -= std::min(found->second.bytes, bytes);
    found->second.files -= std::min(found->second.files, files);
    if (found->second.files == 0 && found->second.bytes == 0) devices.erase(found);
  }
  /// Removes `file`'s kept entry; returns what it held (0 if none).
  std::uint64_t release_kept(FileId file) {
    auto found = kept.find(file);
    if (found == kept.end()) return 0;
    const KeptPartial entry = found->second;
    kept.erase(found);
    take(entry.device, entry.bytes, 0);
    return entry.bytes;
  }
  void record_kept(FileId file, dev_t device, std::uint64_t bytes) {
    release_kept(file);
    kept.emplace(file, KeptPartial{device, bytes});
    add(device, bytes, 0);
  }
};

SpaceClaim::SpaceClaim(std::shared_ptr<Books> books, dev_t device, std::uint64_t size,
                       std::uint64_t held)
    : books_(std::move(books)), device_(device), size_(size), on_disk_(std::min(held, size)) {}

SpaceClaim::~SpaceClaim() {
  std::lock_guard lock(books_->mutex);
  if (released_) return;
  books_->take(device_, size_ - on_disk_, 1);
  if (partial_) books_->open.erase(*partial_);
  // Ended before it opened the partial file it took the entry of: the file
  // is still there, as it was, unless another upload holds it now.
  if (adopted_ && !partial_ && !books_->open.contains(*adopted_)) {
    books_->record_kept(*adopted_, device_, adopted_bytes_);
  }
}

void SpaceClaim::wrote_to(std::uint64_t end) {
  std::lock_guard lock(books_->mutex);
  if (end > on_disk_) set_on_disk(end);
}

void SpaceClaim::truncated() {
  std::lock_guard lock(books_->mutex);
  set_on_disk(0);
}

void SpaceClaim::opened_partial(FileId file) {
  std::lock_guard lock(books_->mutex);
  // An entry given back meanwhile by a rival that took it over first and
  // was then refused; this claim's promise already counts the file's need.
  books_->release_kept(file);
  books_->open.insert(file);
  partial_ = file;
}

void SpaceClaim::keep_partial(std::uint64_t on_disk) {
  std::lock_guard lock(books_->mutex);
  if (released_ || !partial_) return;
  on_disk = std::min(std::max(on_disk, on_disk_), size_);
  books_->take(device_, size_ - on_disk_, 1);
  books_->open.erase(*partial_);
  books_->record_kept(*partial_, device_, size_ - on_disk);
  released_ = true;
}

void SpaceClaim::removed_partial() {
  std::lock_guard lock(books_->mutex);
  adopted_.reset();
}

void SpaceClaim::set_on_disk(std::uint64_t on_disk) {
  // Called with the lock held. The promise is what is still to be written:
  // bytes already in the file are in the file system's own count.
  on_disk = std::min(on_disk, size_);
  Outstanding& owed = books_->devices[device_];
  owed.bytes -= std::min(owed.bytes, size_ - on_disk_);
  owed.bytes += size_ - on_disk;
  on_disk_ = on_disk;
}

SpaceLedger::SpaceLedger() : books_(std::make_shared<SpaceClaim::Books>()) {}

SpaceVerdict SpaceLedger::fits(const FreeSpace& space, const Outstanding& owed,
                               std::uint64_t needed, std::uint64_t reserve) {
  // Written as subtractions from the free space so that a 2^63-byte
  // declaration cannot overflow.
  std::uint64_t left = space.bytes;
  for (std::uint64_t take : {owed.bytes, needed, reserve}) {
    if (take > left) return SpaceVerdict::kNoBytes;
    left -= take;
  }
  // A file system that does not count inodes (f_files 0: btrfs, some
  // network file systems) has none to run out of.
  if (space.inodes_counted && space.inodes < owed.files + 1 + kInodeReserve) {
    return SpaceVerdict::kNoInodes;
  }
  return SpaceVerdict::kAdmitted;
}

SpaceVerdict SpaceLedger::admit(const FreeSpace& space, std::uint64_t size, std::uint64_t held,
                                std::uint64_t reserve, std::unique_ptr<SpaceClaim>& claim,
                                std::optional<FileId> kept) {
  held = std::min(held, size);
  std::lock_guard lock(books_->mutex);
  Outstanding owed;
  if (auto found = books_->devices.find(space.device); found != books_->devices.end()) {
    owed = found->second;
  }
  // The partial file's own kept entry is what this upload needs: counted
  // once, as this upload's promise.
  const auto own = kept ? books_->kept.find(*kept) : books_->kept.end();
  if (own != books_->kept.end() && own->second.device == space.device) {
    owed.bytes -= std::min(owed.bytes, own->second.bytes);
  }
  const SpaceVerdict verdict = fits(space, owed, size - held, reserve);
  if (verdict != SpaceVerdict::kAdmitted) return verdict;
  books_->add(space.device, size - held, 1);
  claim.reset(new SpaceClaim(books_, space.device, size, held));
  if (own != books_->kept.end()) {
    claim->adopted_ = *kept;
    claim->adopted_bytes_ = books_->release_kept(*kept);
  }
  return verdict;
}

void SpaceLedger::keep(FileId file, dev_t device, std::uint64_t bytes) {
  std::lock_guard lock(books_->mutex);
  if (!books_->open.contains(file)) books_->record_kept(file, device, bytes);
}

void SpaceLedger::forget_kept(FileId file) {
  std::lock_guard lock(books_->mutex);
  books_->release_kept(file);
}

std::size_t SpaceLedger::kept_count() const {
  std::lock_guard lock(books_->mutex);
  return books_->kept.size();
}

Outstanding SpaceLedger::outstanding(dev_t device) const {
  std::lock_guard lock(books_->mutex);
  auto found = books_->devices.find(device);
  return found == books_->devices.end() ? Outstanding{} : found->second;
}

}  // namespace ft::server
