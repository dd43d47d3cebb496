#include "stun/relay_protocol.hpp"

#include <algorithm>
#include <cstring>
#include <sodium.h>

namespace overlayd::stun::relay {

namespace {

void put_be16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    out.push_back(static_cast<std::uint8_t>(v >> s));
}

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

} // namespace

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16)
         | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

std::optional<msg_type> msg_type_from_byte(std::uint8_t b) {
  if ((b >= 0x01 && b <= 0x08) || b == 0x80)
    return static_cast<msg_type>(b);
  return std::nullopt;
}

auth_key derive_auth_key(std::string_view credential) {
  auth_key k;
  crypto_generichash(k.data(), k.size(),
                     reinterpret_cast<const unsigned char*>(credential.data()),
                     credential.size(), nullptr, 0);
  return k;
}

auth_tag compute_tag(const auth_key& key, std::span<const std::uint8_t> data) {
  auth_tag t;
  crypto_generichash(t.data(), t.size(), data.data(), data.size(), key.data(),
                     key.size());
  return t;
}

bool verify_tag(const auth_key& key, std::span<const std::uint8_t> data,
                std::span<const std::uint8_t> tag) {
  if (tag.size() != tag_size)
    return false;
  auto expect = compute_tag(key, data);
  return crypto_verify_32(expect.data(), tag.data()) == 0;
}

std::size_t encoded_addr_size(const udp_endpoint& ep) {
  return ep.ip.unmapped().is_v4() ? 7 : 19;
}

void encode_addr(const udp_endpoint& ep, std::vector<std::uint8_t>& out) {
  ip_address ip = ep.ip.unmapped();
  if (ip.is_v4()) {
    out.push_back(0x01);
    out.insert(out.end(), ip.bytes.begin(), ip.bytes.begin() + 4);
  } else {
    out.push_back(0x02);
    out.insert(out.end(), ip.bytes.begin(), ip.bytes.end());
  }
  put_be16(out, ep.port);
}

std::optional<decoded_addr> decode_addr(std::span<const std::uint8_t> in) {
  if (in.empty())
    return std::nullopt;
  if (in[0] == 0x01) {
    if (in.size() < 7)
      return std::nullopt;
    return decoded_addr{
      {ip_address::v4(in[1], in[2], in[3], in[4]), be16(&in[5])}, 7};
  }
  if (in[0] == 0x02) {
    if (in.size() < 19)
      return std::nullopt;
    std::uint8_t b[16];
    std::memcpy(b, &in[1], 16);
    return decoded_addr{{ip_address::v6(b), be16(&in[17])}, 19};
  }
  return std::nullopt;
}

std::vector<std::uint8_t> build_control(msg_type t,
                                        std::span<const std::uint8_t> payload,
                                        const auth_key& key) {
  std::vector<std::uint8_t> m;
  m.reserve(header_size + payload.size() + tag_size);
  m.push_back(static_cast<std::uint8_t>(t));
  put_be16(m, static_cast<std::uint16_t>(payload.size()));
  m.insert(m.end(), payload.begin(), payload.end());
  auto tag = compute_tag(key, m);
  m.insert(m.end(), tag.begin(), tag.end());
  return m;
}

std::optional<control_msg> parse_frame(std::span<const std::uint8_t> msg) {
  if (msg.size() < header_size)
    return std::nullopt;
  auto t = msg_type_from_byte(msg[0]);
  if (!t)
    return std::nullopt;
  std::size_t len = be16(&msg[1]);
  if (msg.size() < header_size + len)
    return std::nullopt;
  return control_msg{*t, msg.subspan(header_size, len)};
}

std::optional<control_msg> parse_control(std::span<const std::uint8_t> msg,
                                         const auth_key& key) {
  auto f = parse_frame(msg);
  if (!f || f->type == msg_type::data)
    return std::nullopt;
  std::size_t body = header_size + f->payload.size();
  if (msg.size() < body + tag_size)
    return std::nullopt;
  if (!verify_tag(key, msg.first(body), msg.subspan(body, tag_size)))
    return std::nullopt;
  return f;
}

std::size_t write_data_header(const udp_endpoint& peer, std::size_t raw_len,
                              std::uint8_t* out) {
  // Hot path of the relay: no allocation here.
  ip_address ip = peer.ip.unmapped();
  std::size_t ip_len = ip.is_v4() ? 4 : 16;
  std::size_t inner = 1 + ip_len + 2 + raw_len;
  if (inner > 0xffff)
    return 0;
  out[0] = static_cast<std::uint8_t>(msg_type::data);
  out[1] = static_cast<std::uint8_t>(inner >> 8);
  out[2] = static_cast<std::uint8_t>(inner);
  out[3] = ip.is_v4() ? 0x01 : 0x02;
  std::memcpy(out + 4, ip.bytes.data(), ip_len);
  out[4 + ip_len] = static_cast<std::uint8_t>(peer.port >> 8);
  out[5 + ip_len] = static_cast<std::uint8_t>(peer.port);
  return header_size + 1 + ip_len + 2;
}

std::vector<std::uint8_t> build_data(const udp_endpoint& peer,
                                     std::span<const std::uint8_t> raw) {
  std::vector<std::uint8_t> m(header_size + 19 + raw.size());
  std::size_t h = write_data_header(peer, raw.size(), m.data());
  if (h == 0)
    return {};
  std::memcpy(m.data() + h, raw.data(), raw.size());
  m.resize(h + raw.size());
  return m;
}

std::optional<data_msg> parse_data(std::span<const std::uint8_t> msg) {
  auto f = parse_frame(msg);
  if (!f || f->type != msg_type::data)
    return std::nullopt;
  auto a = decode_addr(f->payload);
  if (!a)
    return std::nullopt;
  return data_msg{a->addr, f->payload.subspan(a->size)};
}

std::vector<std::uint8_t> allocate_req_payload(std::string_view username) {
  // Callers reject names over 255 bytes; the length byte cannot say more.
  std::size_t n = std::min<std::size_t>(username.size(), 255);
  std::vector<std::uint8_t> p(1 + n);
  p[0] = static_cast<std::uint8_t>(n);
  if (n != 0)
    std::memcpy(p.data() + 1, username.data(), n);
  return p;
}

std::vector<std::uint8_t> allocate_resp_payload(const udp_endpoint& relay,
                                                const allocation_id& id,
                                                std::uint32_t lifetime) {
  std::vector<std::uint8_t> p;
  encode_addr(relay, p);
  p.insert(p.end(), id.begin(), id.end());
  put_be32(p, lifetime);
  return p;
}

std::optional<allocate_resp>
parse_allocate_resp(std::span<const std::uint8_t> p) {
  if (p.size() < 27)
    return std::nullopt;
  auto a = decode_addr(p);
  if (!a || p.size() < a->size + 20)
    return std::nullopt;
  allocate_resp r;
  r.relay_addr = a->addr;
  std::memcpy(r.id.data(), &p[a->size], 16);
  r.lifetime = read_be32(&p[a->size + 16]);
  return r;
}

std::vector<std::uint8_t> permission_req_payload(const allocation_id& id,
                                                 const udp_endpoint& peer) {
  std::vector<std::uint8_t> p(id.begin(), id.end());
  encode_addr(peer, p);
  return p;
}

std::vector<std::uint8_t> refresh_req_payload(const allocation_id& id,
                                              std::uint32_t lifetime) {
  std::vector<std::uint8_t> p(id.begin(), id.end());
  put_be32(p, lifetime);
  return p;
}

std::vector<std::uint8_t> lifetime_payload(std::uint32_t lifetime) {
  std::vector<std::uint8_t> p;
  put_be32(p, lifetime);
  return p;
}

} // namespace overlayd::stun::relay
