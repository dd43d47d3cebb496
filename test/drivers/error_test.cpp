#include "drivers/error.hpp"

#include <cerrno>
#include <doctest/doctest.h>

using namespace overlayd::drivers;

TEST_CASE("errno values map to the kinds callers branch on") {
  CHECK(kind_from_errno(ENODEV) == error_kind::not_found);
  CHECK(kind_from_errno(ESRCH) == error_kind::not_found);
  CHECK(kind_from_errno(EEXIST) == error_kind::already_exists);
  CHECK(kind_from_errno(EPERM) == error_kind::permission_denied);
  CHECK(kind_from_errno(EINVAL) == error_kind::kernel);
}

TEST_CASE("what() names the operation, the object, errno and ext-ack") {
  auto err = error::from_errno(EEXIST, "create_veth_pair", "veth-42-s",
                               "Link already exists");
  CHECK(err.kind() == error_kind::already_exists);
  CHECK(err.err_no() == EEXIST);
  auto text = err.what();
  CHECK(text.find("create_veth_pair(veth-42-s)") == 0);
  CHECK(text.find("File exists") != std::string::npos);
  CHECK(text.find("EEXIST") != std::string::npos);
  CHECK(text.find("errno 17") != std::string::npos);
  CHECK(text.find("Link already exists") != std::string::npos);
}

TEST_CASE("an error without errno prints its detail") {
  error err{error_kind::invalid_argument, 0, "set_mtu", "zl-x", "bad mtu 0"};
  CHECK(err.what() == "set_mtu(zl-x): bad mtu 0");
}

TEST_CASE("result carries either a value or an error") {
  result<int> ok = 5;
  REQUIRE(ok);
  CHECK(*ok == 5);
  result<int> bad = error{error_kind::not_found, ENODEV, "get_link", "x"};
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind() == error_kind::not_found);
  CHECK(bad.value_or(7) == 7);
  status fine;
  CHECK(fine);
  status failed = error{error_kind::kernel, EINVAL, "op", "obj"};
  CHECK_FALSE(failed);
  CHECK(failed.error().err_no() == EINVAL);
}
