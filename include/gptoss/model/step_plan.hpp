// StepPlan: how a forward call runs, worked out on the host before any work is done, the same for
// every backend. The call's tokens are cut into chunks of at most max_batch_tokens rows; within a
// chunk, a segment is a run of one sequence's tokens. The plan holds every row's token, position
// and segment, and which rows produce which logits rows. A backend then runs each chunk as it
// stands: no decision inside a step depends on anything the plan does not say.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "gptoss/core/token.hpp"
#include "gptoss/model/steps.hpp"

namespace gptoss {

struct PlannedSegment {
  std::size_t step;        // which of the call's steps (and so which sequence) it extends
  std::int64_t offset;     // its first row within the chunk
  std::int64_t length;     // rows
  std::int64_t start;      // position of its first token: the sequence's length before the chunk
  std::int64_t first_out;  // its first row whose logits are wanted (an offset into the segment), or length
  std::int64_t out_row;    // the logits row that row writes; those after it write the rows that follow
};

struct PlannedChunk {
  std::int64_t first_segment, segments;  // into StepPlan::segments()
  std::int64_t first_row, rows;          // into StepPlan::tokens(), positions(), segment_of()
};

class StepPlan {
 public:
  // Plans `steps` in chunks of at most max_batch_tokens rows. The steps are checked already
  // (check_steps); the sequences' lengths are read now, so the plan is made just before it runs.
  // The plan's storage is reused from call to call: planning a decode step does not allocate.
  template <class Sequence>
  void make(std::span<const StepOf<Sequence>> steps, Logits which, std::int64_t max_batch_tokens) {
    chunks_.clear(), segments_.clear(), tokens_.clear(), positions_.clear(), segment_of_.clear();
    logits_rows_ = 0;
    std::int64_t budget = 0;
    for (std::size_t s = 0; s < steps.size(); ++s) {
      const std::int64_t n = std::int64_t(steps[s].tokens.size()), length = steps[s].sequence.length();
      for (std::int64_t done = 0; done < n;) {
        if (budget == 0) {
          chunks_.push_back({std::int64_t(segments_.size()), 0, std::int64_t(tokens_.size()), 0});
          budget = max_batch_tokens;
        }
        PlannedChunk& chunk = chunks_.back();
        const std::int64_t take = std::min(budget, n - done);
        PlannedSegment seg{s, chunk.rows, take, length + done, take, -1};
        if (which == Logits::all) {
          seg.first_out = 0, seg.out_row = logits_rows_ + done;
        } else if (done + take == n) {
          seg.first_out = take - 1, seg.out_row = logits_rows_;
        }
        for (std::int64_t j = 0; j < take; ++j) {
          tokens_.push_back(steps[s].tokens[std::size_t(done + j)]);
          positions_.push_back(seg.start + j);
          segment_of_.push_back(int(chunk.segments));
        }
        segments_.push_back(seg);
        ++chunk.segments;
        chunk.rows += take;
        done += take;
        budget -= take;
      }
      logits_rows_ += which == Logits::all ? n : 1;
    }
  }

  std::span<const PlannedChunk> chunks() const { return chunks_; }
  std::span<const PlannedSegment> segments(const PlannedChunk& c) const {
    return std::span(segments_).subspan(std::size_t(c.first_segment), std::size_t(c.segments));
  }
  // Per row of the chunk: its token, its position in its sequence, and its segment (an index
  // into segments(c)).
  std::span<const token_id> tokens(const PlannedChunk& c) const { return rows_of(tokens_, c); }
  std::span<const std::int64_t> positions(const PlannedChunk& c) const { return rows_of(positions_, c); }
  std::span<const int> segment_of(const PlannedChunk& c) const { return rows_of(segment_of_, c); }
  // The longest position of any row in the chunk.
  std::int64_t max_position(const PlannedChunk& c) const {
    const auto p = positions(c);
    return p.empty() ? 0 : *std::max_element(p.begin(), p.end());
  }
  std::int64_t logits_rows() const { return logits_rows_; }

 private:
  template <class T>
  static std::span<const T> rows_of(const std::vector<T>& v, const PlannedChunk& c) {
    return std::span(v).subspan(std::size_t(c.first_row), std::size_t(c.rows));
  }

  std::vector<PlannedChunk> chunks_;
  std::vector<PlannedSegment> segments_;
  std::vector<token_id> tokens_;
  std::vector<std::int64_t> positions_;
  std::vector<int> segment_of_;
  std::int64_t logits_rows_ = 0;
};

}  // namespace gptoss
