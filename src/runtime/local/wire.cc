#include "runtime/local/wire.h"

#include <cstring>

namespace berth::runtime::local {
namespace {

template <typename T>
void PutLe(std::string& buf, T v) {
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v);
  for (size_t i = 0; i < sizeof(T); ++i) buf.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

template <typename T>
T GetLe(std::string_view b) {
  using U = std::make_unsigned_t<T>;
  U u = 0;
  for (size_t i = 0; i < sizeof(T); ++i) u |= static_cast<U>(static_cast<uint8_t>(b[i])) << (8 * i);
  return static_cast<T>(u);
}

}  // namespace

WireWriter::WireWriter(MsgType type) {
  buf_.resize(4);  // length, filled by Finish()
  buf_.push_back(static_cast<char>(type));
}

WireWriter& WireWriter::U8(uint8_t v) {
  buf_.push_back(static_cast<char>(v));
  return *this;
}
WireWriter& WireWriter::I32(int32_t v) {
  PutLe(buf_, v);
  return *this;
}
WireWriter& WireWriter::I64(int64_t v) {
  PutLe(buf_, v);
  return *this;
}
WireWriter& WireWriter::U64(uint64_t v) {
  PutLe(buf_, v);
  return *this;
}
WireWriter& WireWriter::U32(uint32_t v) {
  PutLe(buf_, v);
  return *this;
}

WireWriter& WireWriter::Str(std::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  buf_.append(s);
  return *this;
}
WireWriter& WireWriter::Strs(const std::vector<std::string>& v) {
  U32(static_cast<uint32_t>(v.size()));
  for (const std::string& s : v) Str(s);
  return *this;
}
WireWriter& WireWriter::Pairs(const std::vector<std::pair<std::string, std::string>>& v) {
  U32(static_cast<uint32_t>(v.size()));
  for (const auto& [k, val] : v) Str(k).Str(val);
  return *this;
}

WireWriter& WireWriter::I32s(const std::vector<int32_t>& v) {
  U32(static_cast<uint32_t>(v.size()));
  for (int32_t x : v) I32(x);
  return *this;
}

std::string WireWriter::Finish() {
  auto body = static_cast<uint32_t>(buf_.size() - 4);
  for (int i = 0; i < 4; ++i) buf_[i] = static_cast<char>((body >> (8 * i)) & 0xff);
  return std::move(buf_);
}

bool WireReader::Bytes(size_t n, std::string_view* out) {
  if (!ok_ || rest_.size() < n) return ok_ = false;
  *out = rest_.substr(0, n);
  rest_.remove_prefix(n);
  return true;
}
bool WireReader::Type(MsgType* t) {
  uint8_t v;
  if (!U8(&v)) return false;
  *t = static_cast<MsgType>(v);
  return true;
}
bool WireReader::U8(uint8_t* v) {
  std::string_view b;
  if (!Bytes(1, &b)) return false;
  *v = static_cast<uint8_t>(b[0]);
  return true;
}
template <typename T>
bool WireReader::Fixed(T* v) {
  std::string_view b;
  if (!Bytes(sizeof(T), &b)) return false;
  *v = GetLe<T>(b);
  return true;
}
bool WireReader::U32(uint32_t* v) { return Fixed(v); }
bool WireReader::I32(int32_t* v) { return Fixed(v); }
bool WireReader::I64(int64_t* v) { return Fixed(v); }
bool WireReader::U64(uint64_t* v) { return Fixed(v); }
bool WireReader::Str(std::string* s) {
  uint32_t n;
  std::string_view b;
  if (!U32(&n) || !Bytes(n, &b)) return false;
  s->assign(b);
  return true;
}
bool WireReader::Strs(std::vector<std::string>* v) {
  uint32_t n;
  if (!U32(&n)) return false;
  // Each string takes at least 4 bytes: refuse counts the body cannot hold
  // before reserving anything.
  if (n > rest_.size() / 4) return ok_ = false;
  v->clear();
  v->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!Str(&v->emplace_back())) return false;
  }
  return true;
}
bool WireReader::Pairs(std::vector<std::pair<std::string, std::string>>* v) {
  uint32_t n;
  if (!U32(&n)) return false;
  if (n > rest_.size() / 8) return ok_ = false;
  v->clear();
  v->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto& p = v->emplace_back();
    if (!Str(&p.first) || !Str(&p.second)) return false;
  }
  return true;
}

bool WireReader::I32s(std::vector<int32_t>* v) {
  uint32_t n;
  if (!U32(&n)) return false;
  if (n > rest_.size() / 4) return ok_ = false;
  v->clear();
  v->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!I32(&v->emplace_back())) return false;
  }
  return true;
}

std::optional<std::string> FrameBuffer::Next(bool* bad) {
  *bad = false;
  size_t avail = buf_.size() - pos_;
  if (avail < 4) return std::nullopt;
  auto n = GetLe<uint32_t>(std::string_view{buf_}.substr(pos_, 4));
  if (n > kMaxFrameBytes) {
    *bad = true;
    return std::nullopt;
  }
  if (avail - 4 < n) return std::nullopt;
  std::string body = buf_.substr(pos_ + 4, n);
  pos_ += 4 + n;
  // Compact once the consumed prefix dominates, keeping appends amortized O(1).
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return body;
}

}  // namespace berth::runtime::local
