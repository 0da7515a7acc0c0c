#pragma once
// The job of ftsend -r (tree_upload.hpp): its types and the class whose
// parts live in tree_upload.cpp (the walk: visits, listings, feeding,
// directory ends) and tree_upload_entries.cpp (what becomes of each entry:
// files, hard links, symlinks, ATTRS, --link-dest). Internal to those files.
#include <sys/stat.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/local/local_tree.hpp"
#include "client/transfer/delete_plan.hpp"
#include "client/transfer/put_pipeline.hpp"
#include "client/transfer/tree_archive.hpp"
#include "client/transfer/tree_walk.hpp"
#include "client/transfer/upload.hpp"
#include "common/rules/filter_rules.hpp"

namespace ft::client::upload_tree {

// One argument of the command, as the walk starts from it.
struct Root {
  std::string local;   // as given, without trailing '/'
  std::string remote;  // where it goes
};

// A directory between its visit and its final MKDIR; `failed`: its MKDIR
// or LIST failed, so no final MKDIR.
struct Dir : TreeDirectory<Dir> {
  std::uint32_t mode = 0755;
  std::int64_t mtime_ns = 0;
  DirectoryStream stream;               // read a window at a time as the walk needs
  std::vector<LocalEntry> entries;      // the window being fed
  std::size_t next = 0;                 // its first entry not fed yet
  std::vector<TreeVisit<Dir>> subdirs;  // visited once every entry is fed
  // The remote listing; a name leaves it once its local twin is fed, so
  // that what is left at the end is what --delete plans.
  std::unordered_map<std::string, Entry> remote_entries;
  bool closing = false;                       // the final MKDIR is on its way
  std::shared_ptr<const FilterLayer> ignore;  // the .ftignore rules in force here
  // --link-dest: the reference directory, its listing, and whether the
  // entries wait for that listing.
  std::string reference;
  std::unordered_map<std::string, Entry> reference_entries;
  bool reference_listing = false;
  // A directory whose listing is larger than one window (PACED) is huge:
  // neither listing is held (tree_upload_huge.cpp).
  std::uint32_t list_id = 0;       // its LIST
  bool huge = false;               // its files are STATed one by one
  std::uint32_t reference_id = 0;  // --link-dest: the reference's LIST
  bool reference_huge = false;     // LINK is sent without looking
  std::uint32_t delete_id = 0;     // --delete: the LIST of the deletion pass
  std::size_t since_next = 0;      // entries of that LIST since its last NEXT
};

// A root's name is its whole path.
using Visit = TreeVisit<Dir>;

enum class Control {
  kList,
  kMkdirBefore,
  kMkdirAfter,
  kSymlink,
  kReferenceList,
  kLink,
  kHardlink,
  kAttrs,
  kStat,       // a file or link of a huge directory
  kHashProbe,  // --checksum in a huge directory: a GET at offset = size
  kDeletePass  // --delete: the second listing of a huge directory
};
struct ControlRequest {
  Control kind;
  Dir* dir;            // null only for the ATTRS of a root directory
  std::string local;   // the symlink's (hard link's, ATTRS's, linked file's) local path
  std::string remote;  // its remote path (an ERROR may name it)
  std::string name;    // a linked file's name in `dir`, to send it if LINK fails
  std::uint64_t size = 0;
  bool settles = false;  // an unchanged file's ATTRS: its answer settles `local`
};

// A second name of a file whose first name is still on its way.
struct LinkWaiter {
  Dir* dir;
  LocalEntry entry;
  std::string local, remote;
};
struct Outgoing {
  std::uint32_t id;
  ControlRequest request;
  Bytes frame;
};

/// The XXH3-128 of the file `name` in `dir_fd`; false with `why`.
bool hash_local_file(int dir_fd, const std::string& name, Hash128& out, std::string& why);

using UploadWalk = TreeWalk<Dir, Visit, UploadItem>;

class TreeUploadJob : public UploadWalk, private PutPipeline::Listener {
 public:
  TreeUploadJob(const std::vector<Root>& roots, const UploadOptions& options,
                TransferReport& report, SettledPaths& settled, std::vector<DeferredFile>& deferred,
                DeletePlan* deletes)
      : UploadWalk(report, settled, deferred),
        options_(options),
        deletes_(deletes),
        pipeline_(options.settings, report, *this, next_id_) {
    for (auto it = roots.rbegin(); it != roots.rend(); ++it) {
      visits_.push_back(Visit{nullptr, it->local, it->local, it->remote, ""});
    }
  }

  void produce(Session& session) override;
  void on_frame(Session& session, Frame& frame) override;
  bool finished() const override {
    return walk_finished() && pipeline_.in_flight() == 0 && control_.empty() && outbox_.empty();
  }

 private:
  // What became of a file entry.
  enum class FileOutcome { kQueued, kSkipped, kFailed };

  bool room() const override {
    return pipeline_.has_room() &&
           pipeline_.in_flight() + control_.size() < limits::kMaxRequestsInFlight;
  }

  void start(Session& session, UploadItem& item) override { pipeline_.start(session, item); }

  void send_held(Session& session) override { flush_outbox(session); }
  bool holding() const override { return !outbox_.empty(); }

  // Queues a MKDIR, LIST or SYMLINK; produce() sends it when the window
  // has room (a reply may free a slot only to have a new request fill it).
  void send_control(ControlRequest request, Bytes frame, std::uint32_t id) {
    ++request.dir->pending;
    outbox_.push_back(Outgoing{id, std::move(request), std::move(frame)});
  }

  void flush_outbox(Session& session) {
    while (!outbox_.empty() && room()) {
      Outgoing& out = outbox_.front();
      session.send(std::move(out.frame), out.id);
      control_.emplace(out.id, std::move(out.request));
      outbox_.pop_front();
    }
  }

  // The walk (tree_upload.cpp).
  void visit_directory(Session& session, Visit visit) override;
  bool take_entries(Session&, Dir& dir, EntriesMsg& message) override;
  void list_failed(Dir& dir, const Error& error) override {
    // NOT_FOUND: the directory is new (its MKDIR was not done yet, or this
    // is a dry run): every file goes.
    // CANCELLED: the LIST of a huge directory, cancelled after its first
    // window (become_huge()).
    if (error.code == ErrorCode::CANCELLED && dir.huge) return;
    if (error.code != ErrorCode::NOT_FOUND) {
      report_.failed(dir.local, error, dir.remote);
      dir.failed = true;
    }
  }

  void directory_unreadable(Dir& dir, const std::string& why) {
    report_.failed(dir.local, Error{ErrorCode::LOCAL_FILE, {}, "cannot read directory: " + why});
    dir.failed = true;
  }

  void list_answered(std::uint32_t id) override { control_.erase(id); }

  Feed feed(Session&, Dir& dir) override;
  void feed_entry(Dir& dir, const LocalEntry& entry);
  // What becomes of one local entry, `their` being its remote twin (null
  // if none).
  void take_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                  const std::string& remote, const std::string& rel, const Entry* their);
  // --delete: the remote names of this directory that the walk does not
  // send (absent here, or excluded with --delete-excluded: the names left
  // in the listing once every entry was fed) join the plan, unless the
  // filters protect them. Only a directory listed on both sides gets here
  // (a failed one is never planned).
  void plan_deletions(const Dir& dir);
  // One remote name of `dir` joins the --delete plan unless protected.
  void plan_deletion(const Dir& dir, const std::string& name, bool directory);
  // Reads the directory's .ftignore (if any) as a new layer of rules over
  // its parent's. An unreadable or bad one fails the directory: sending it
  // with rules the user did not mean would copy what they wanted left out.
  void read_ignore_file(Dir& dir);
  void release(Session& session, Dir& dir) override;

  // Huge directories (tree_upload_huge.cpp).
  // The LIST of `dir` paused after its first window: it is cancelled and
  // the directory's files are STATed instead.
  void become_huge(Session& session, Dir& dir);
  // Sends the STAT of a file or link of a huge directory; the entry waits
  // for its answer in stat_entries_.
  void stat_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                  const std::string& remote);
  void on_stat_reply(Session& session, ControlRequest request, const Frame& frame);
  // --checksum in a huge directory: a STAT carries no content hash, so a
  // remote file of the local one's size is asked for it with a GET at
  // offset = size (answered GET_READY, then END with the file's XXH3-128,
  // and no byte of data: the BUSY probe's question, put_probe.cpp).
  void probe_hash(Dir& dir, const LocalEntry& entry, const std::string& local,
                  const std::string& remote, Entry theirs);
  void on_hash_probe_reply(Session& session,
                           std::unordered_map<std::uint32_t, ControlRequest>::iterator found,
                           const Frame& frame);
  // --delete in a huge directory: a paced LIST of it once every local
  // entry is fed; each remote name absent here (or excluded) is planned.
  void start_delete_pass(Dir& dir);
  void on_delete_pass_reply(Session& session,
                            std::unordered_map<std::uint32_t, ControlRequest>::iterator found,
                            const Frame& frame);

  // The entries (tree_upload_entries.cpp).
  // --link-dest: lists the directory of the reference tree that matches
  // this one (LINK needs a name that exists there unchanged), with hashes
  // for --checksum. The entries wait for it (walk_deferred).
  void list_reference(Session& session, Dir& dir);
  void on_reference_reply(Session& session,
                          std::unordered_map<std::uint32_t, ControlRequest>::iterator found,
                          const Frame& frame);
  // --link-dest: a file that differs from the destination but matches the
  // reference (size and mtime, or the content hash with --checksum) is
  // hard-linked by the server (LINK) instead of sent. False if it must be
  // sent.
  bool link_instead(Dir& dir, const LocalEntry& entry, const std::string& local,
                    const std::string& remote);
  FileOutcome file_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                         const std::string& remote, const Entry* theirs);
  // A file with several names (ARCHIVE): its first name in this transfer
  // goes as a file, the others as HARDLINKs to it once it is there.
  void hard_link_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                       const std::string& remote, const Entry* theirs);
  void send_hardlink(Dir& dir, const std::string& local, const std::string& remote,
                     const std::string& existing);
  // A skipped file: settled at once, or once its ATTRS are answered.
  void skip_settled(Dir& dir, const std::string& local, const std::string& remote);
  // The ATTRS of `local` (named by its last component in `dir_fd`), if
  // the plan sets any (false if none is sent); it keeps `dir` (if any)
  // pending until answered. `settles`: the answer settles `local`.
  bool send_attrs(Dir* dir, int dir_fd, const std::string& local, const std::string& remote,
                  bool settles = false);
  // A directory's own ATTRS, once its final MKDIR is done: its parent (if
  // any) waits for it.
  void send_directory_attrs(Dir& dir);
  void enqueue_file(Dir* dir, const std::string& name, const std::string& local,
                    const std::string& remote);
  void link_entry(Dir& dir, const LocalEntry& entry, const std::string& local,
                  const std::string& remote, const std::string& rel, const Entry* theirs);
  void on_settled(Session& session, UploadItem& item) override;

  const UploadOptions& options_;
  DeletePlan* deletes_;              // --delete: where the walk gathers what to delete
  std::optional<ArchivePlan> plan_;  // once the server's hello is in
  NameRules rules_ = NameRules::kPortable;
  OwnerNames names_;
  HardLinks<LinkWaiter> hard_links_;
  PutPipeline pipeline_;
  std::unordered_map<std::uint32_t, ControlRequest> control_;   // sent, awaiting the reply
  std::deque<Outgoing> outbox_;                                 // not sent yet
  std::unordered_map<std::uint32_t, LocalEntry> stat_entries_;  // by the id of their STAT
  struct HashProbe {
    LocalEntry entry;
    Entry theirs;          // from the STAT; its content_hash comes with END
    HashProbeReply reply;  // reads the GET's reply; cancelled when it told another size
  };
  std::unordered_map<std::uint32_t, HashProbe> hash_probes_;  // by the id of their GET
};

}  // namespace ft::client::upload_tree
