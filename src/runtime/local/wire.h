#pragma once
// The supervisor's message protocol: frames of a 4-byte little-endian body
// length followed by the body. A body is a type byte and fields, each encoded
// as: integers little-endian fixed width, strings as u32 length + bytes,
// lists as u32 count + items. No text parsing, no shell strings.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::runtime::local {

enum class MsgType : uint8_t {
  // berth -> supervisor
  kSpawn = 1,      // u64 req, u32 n, n x LaunchSpec (id argv env cwd log merged log_root)
  kTerminate = 2,  // u64 req, u8 all, strings ids, i64 grace_ms
  kShutdown = 3,   // u64 req, i64 grace_ms
  // supervisor -> berth
  kHello = 10,    // i32 pid, u8 code, string message
  kReply = 11,    // u64 req, i32 value, u8 code, string message
  kExit = 12,     // string id, i32 pid, i32 waitpid() status
  kSpawned = 13,  // u64 req, u8 code, string message, i32 list pids (empty on error)
};

// Frames larger than this are refused (a corrupt length, not a real message).
inline constexpr uint32_t kMaxFrameBytes = 64U << 20;

class WireWriter {
 public:
  explicit WireWriter(MsgType type);
  WireWriter& U8(uint8_t v);
  WireWriter& U32(uint32_t v);
  WireWriter& I32(int32_t v);
  WireWriter& I64(int64_t v);
  WireWriter& U64(uint64_t v);
  WireWriter& Str(std::string_view s);
  WireWriter& Strs(const std::vector<std::string>& v);
  WireWriter& Pairs(const std::vector<std::pair<std::string, std::string>>& v);
  WireWriter& I32s(const std::vector<int32_t>& v);  // u32 count + items
  // The whole frame, length prefix included.
  std::string Finish();  // leaves the writer empty

 private:
  std::string buf_;
};

// Reads one body. Every getter returns false once the body is exhausted or
// malformed, and stays false (check ok() at the end, or each call).
class WireReader {
 public:
  explicit WireReader(std::string_view body) : rest_(body) {}
  bool Type(MsgType* t);
  bool U8(uint8_t* v);
  bool U32(uint32_t* v);
  bool I32(int32_t* v);
  bool I64(int64_t* v);
  bool U64(uint64_t* v);
  bool Str(std::string* s);
  bool Strs(std::vector<std::string>* v);
  bool Pairs(std::vector<std::pair<std::string, std::string>>* v);
  bool I32s(std::vector<int32_t>* v);
  // Bytes not read yet (to bound a count before reserving for it).
  size_t remaining() const { return rest_.size(); }
  bool ok() const { return ok_; }
  bool AtEnd() const { return ok_ && rest_.empty(); }

 private:
  bool Bytes(size_t n, std::string_view* out);
  template <typename T>
  bool Fixed(T* v);  // a little-endian integer of sizeof(T) bytes
  std::string_view rest_;
  bool ok_ = true;
};

// Accumulates stream bytes and cuts them into frame bodies.
class FrameBuffer {
 public:
  void Append(std::string_view bytes) { buf_.append(bytes); }
  // The next complete body, nullopt if none yet. Sets *bad on an oversized
  // length (the stream is then unusable).
  std::optional<std::string> Next(bool* bad);

 private:
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace berth::runtime::local
