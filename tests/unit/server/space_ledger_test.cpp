// The ledger's kept partial files (issue 10, requirement 4): what a cut
// resumable upload's partial file still lacks stays promised, once per
// file, until a resume takes it over or the file is removed.
#include "server/storage/space_ledger.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace ft::server {
namespace {

constexpr dev_t kDevice = 7;
constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr FileId kPartial{kDevice, 42};

FreeSpace free_mib(std::uint64_t mib) {
  return FreeSpace{mib * kMiB, 1000, true, kDevice};
}

// A 30 MiB upload that wrote 4 MiB into the partial file kPartial, then was
// cut with the file kept.
void cut_after_four_mib(SpaceLedger& ledger) {
  std::unique_ptr<SpaceClaim> claim;
  ASSERT_EQ(ledger.admit(free_mib(64), 30 * kMiB, 0, 16 * kMiB, claim), SpaceVerdict::kAdmitted);
  claim->opened_partial(kPartial);
  claim->wrote_to(4 * kMiB);
  claim->keep_partial(4 * kMiB);
}

TEST(SpaceLedgerKept, ACutUploadsPartialStaysPromisedWithoutAnInode) {
  SpaceLedger ledger;
  cut_after_four_mib(ledger);
  EXPECT_EQ(ledger.kept_count(), 1u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 26 * kMiB);
  EXPECT_EQ(ledger.outstanding(kDevice).files, 0u);
  std::unique_ptr<SpaceClaim> other;
  EXPECT_EQ(ledger.admit(free_mib(60), 30 * kMiB, 0, 16 * kMiB, other), SpaceVerdict::kNoBytes);
}

TEST(SpaceLedgerKept, AResumeTakesItsOwnEntryOverInOneStep) {
  SpaceLedger ledger;
  cut_after_four_mib(ledger);
  std::unique_ptr<SpaceClaim> resume;
  // 60 free - 26 still lacking - 16 reserve: fits only if counted once.
  ASSERT_EQ(ledger.admit(free_mib(60), 30 * kMiB, 4 * kMiB, 16 * kMiB, resume, kPartial),
            SpaceVerdict::kAdmitted);
  EXPECT_EQ(ledger.kept_count(), 0u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 26 * kMiB);
  resume->opened_partial(kPartial);
  resume->wrote_to(30 * kMiB);
  resume.reset();  // committed
  EXPECT_EQ(ledger.kept_count(), 0u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 0u);
}

TEST(SpaceLedgerKept, AResumeRefusedBeforeOpeningGivesTheEntryBack) {
  SpaceLedger ledger;
  cut_after_four_mib(ledger);
  std::unique_ptr<SpaceClaim> resume;
  ASSERT_EQ(ledger.admit(free_mib(60), 30 * kMiB, 4 * kMiB, 16 * kMiB, resume, kPartial),
            SpaceVerdict::kAdmitted);
  resume.reset();  // BUSY, say: the file was never opened
  EXPECT_EQ(ledger.kept_count(), 1u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 26 * kMiB);
}

TEST(SpaceLedgerKept, AResumeThatRemovedThePartialGivesNothingBack) {
  SpaceLedger ledger;
  cut_after_four_mib(ledger);
  std::unique_ptr<SpaceClaim> resume;
  ASSERT_EQ(ledger.admit(free_mib(60), 30 * kMiB, 4 * kMiB, 16 * kMiB, resume, kPartial),
            SpaceVerdict::kAdmitted);
  resume->removed_partial();  // opening it failed, and the upload removed it
  resume.reset();
  EXPECT_EQ(ledger.kept_count(), 0u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 0u);
}

TEST(SpaceLedgerKept, CutAgainReplacesTheEntryAndRemovalReleasesIt) {
  SpaceLedger ledger;
  cut_after_four_mib(ledger);
  std::unique_ptr<SpaceClaim> resume;
  ASSERT_EQ(ledger.admit(free_mib(60), 30 * kMiB, 4 * kMiB, 16 * kMiB, resume, kPartial),
            SpaceVerdict::kAdmitted);
  resume->opened_partial(kPartial);
  resume->wrote_to(10 * kMiB);
  resume->keep_partial(10 * kMiB);
  resume.reset();
  EXPECT_EQ(ledger.kept_count(), 1u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 20 * kMiB);
  ledger.forget_kept(kPartial);  // the stale-partial cleanup removed it
  EXPECT_EQ(ledger.kept_count(), 0u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 0u);
  ledger.forget_kept(kPartial);  // twice is harmless
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 0u);
}

TEST(SpaceLedgerKept, AClaimWithoutAnOpenedPartialKeepsNothing) {
  SpaceLedger ledger;
  std::unique_ptr<SpaceClaim> claim;
  ASSERT_EQ(ledger.admit(free_mib(64), 10 * kMiB, 0, 0, claim), SpaceVerdict::kAdmitted);
  claim->keep_partial(0);
  claim.reset();
  EXPECT_EQ(ledger.kept_count(), 0u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 0u);
}

// A partial file found at start-up (kept before a restart) gets an entry
// for what it still lacks, which a resume takes over as a cut upload's;
// one an open upload holds is never counted twice.
TEST(SpaceLedgerKept, APartialFoundAtStartUpIsPromisedAgain) {
  SpaceLedger ledger;
  ledger.keep(kPartial, kDevice, 26 * kMiB);
  EXPECT_EQ(ledger.kept_count(), 1u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 26 * kMiB);
  std::unique_ptr<SpaceClaim> other;
  EXPECT_EQ(ledger.admit(free_mib(60), 30 * kMiB, 0, 16 * kMiB, other), SpaceVerdict::kNoBytes);
  std::unique_ptr<SpaceClaim> resume;
  ASSERT_EQ(ledger.admit(free_mib(60), 30 * kMiB, 4 * kMiB, 16 * kMiB, resume, kPartial),
            SpaceVerdict::kAdmitted);
  resume->opened_partial(kPartial);
  EXPECT_EQ(ledger.kept_count(), 0u);
  EXPECT_EQ(ledger.outstanding(kDevice).bytes, 26 * kMiB);
  ledger.keep(kPartial, kDevice, 26 * kMiB);  // held by the resume: ignored
  EXPECT_EQ(ledger.kept_count(), 0u);
}

}  // namespace
}  // namespace ft::server
