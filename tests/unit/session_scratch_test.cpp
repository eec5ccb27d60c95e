#include "http/session_scratch.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <thread>
#include <vector>

using cloudmeta::http_server::ScratchLease;
using cloudmeta::http_server::SessionScratch;

TEST_CASE("a returned scratch is handed out again, empty, with the new buffer limit") {
  std::thread([] {  // a fresh thread: an empty free list
    const SessionScratch* first = nullptr;
    {
      ScratchLease lease(8192);
      first = &*lease;
      CHECK(lease->buffer.max_size() == 8192);
      lease->buffer.commit(boost::asio::buffer_copy(lease->buffer.prepare(5),
                                                    boost::asio::buffer("GET /", 5)));
      lease->head = "HTTP/1.1 200 OK\r\n";
    }
    CHECK(ScratchLease::pooled_on_this_thread() == 1);
    ScratchLease again(4096);
    CHECK(&*again == first);
    CHECK(again->buffer.size() == 0);
    CHECK(again->head.empty());
    CHECK(again->head.capacity() >= 512);
    CHECK(again->buffer.max_size() == 4096);
    CHECK(ScratchLease::pooled_on_this_thread() == 0);
  }).join();
}

TEST_CASE("the free list is bounded, and a buffer one big request grew is not kept") {
  std::thread([] {
    {
      std::vector<std::unique_ptr<ScratchLease>> open;
      for (std::size_t i = 0; i < ScratchLease::kMaxPooled + 10; ++i) {
        open.push_back(std::make_unique<ScratchLease>(8192));
      }
    }
    CHECK(ScratchLease::pooled_on_this_thread() == ScratchLease::kMaxPooled);

    // Take everything back out, then return one ordinary and two grown scratches.
    std::vector<std::unique_ptr<ScratchLease>> drain;
    while (ScratchLease::pooled_on_this_thread() > 0) {
      drain.push_back(std::make_unique<ScratchLease>(8192));
    }
    {
      ScratchLease ordinary(1 << 20);
      ScratchLease big_buffer(1 << 20);
      big_buffer->buffer.prepare(ScratchLease::kMaxKeptBuffer * 2);
      ScratchLease big_head(8192);
      big_head->head.assign(ScratchLease::kMaxKeptHead * 2, 'x');
    }
    CHECK(ScratchLease::pooled_on_this_thread() == 1);  // the ordinary one only
    drain.clear();
  }).join();
}
