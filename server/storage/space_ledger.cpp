#include "server/storage/space_ledger.hpp"

#include <algorithm>

namespace ft::server {

struct SpaceClaim::Books {
  std::mutex mutex;
  std::unordered_map<dev_t, Outstanding> devices;
};

SpaceClaim::SpaceClaim(std::shared_ptr<Books> books, dev_t device, std::uint64_t size,
                       std::uint64_t held)
    : books_(std::move(books)), device_(device), size_(size), on_disk_(std::min(held, size)) {}

SpaceClaim::~SpaceClaim() {
  std::lock_guard lock(books_->mutex);
  auto found = books_->devices.find(device_);
  if (found == books_->devices.end()) return;
  found->second.bytes -= std::min(found->second.bytes, size_ - on_disk_);
  found->second.files -= std::min<std::uint64_t>(found->second.files, 1);
  if (found->second.files == 0) books_->devices.erase(found);
}

void SpaceClaim::wrote_to(std::uint64_t end) {
  std::lock_guard lock(books_->mutex);
  if (end > on_disk_) set_on_disk(end);
}

void SpaceClaim::truncated() {
  std::lock_guard lock(books_->mutex);
  set_on_disk(0);
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
                                std::uint64_t reserve, std::unique_ptr<SpaceClaim>& claim) {
  held = std::min(held, size);
  std::lock_guard lock(books_->mutex);
  Outstanding owed;
  if (auto found = books_->devices.find(space.device); found != books_->devices.end()) {
    owed = found->second;
  }
  const SpaceVerdict verdict = fits(space, owed, size - held, reserve);
  if (verdict != SpaceVerdict::kAdmitted) return verdict;
  Outstanding& books = books_->devices[space.device];
  books.bytes += size - held;
  books.files += 1;
  claim.reset(new SpaceClaim(books_, space.device, size, held));
  return verdict;
}

Outstanding SpaceLedger::outstanding(dev_t device) const {
  std::lock_guard lock(books_->mutex);
  auto found = books_->devices.find(device);
  return found == books_->devices.end() ? Outstanding{} : found->second;
}

}  // namespace ft::server
